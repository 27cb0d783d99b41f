//! Persisted documents: how much an instance keeps of the documents clients register by hash
//! (automatic persisted queries), and the manifest of trusted documents (README, "Persisted
//! queries"). Flattened into `ServeConfig`.

use std::path::PathBuf;

use clap::Args;

/// What an instance does with documents named by their SHA-256 (`extensions.persistedQuery`).
#[derive(Debug, Clone, Args)]
pub struct DocumentsConfig {
    /// Run only the operations of this manifest (Apollo's persisted query manifest, JSON): by
    /// their id, or by a text byte for byte equal to a listed body; anything else is refused
    /// with OPERATION_NOT_TRUSTED, introspection included unless listed, and nothing is
    /// registered. Default: none, any document runs and clients may register theirs.
    #[arg(long, env = "TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,

    /// Most documents kept for automatic persisted queries, per instance; past it the least
    /// recently used is forgotten (its client sends the text again).
    #[arg(long, env = "APQ_MAX_ENTRIES", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub apq_max_entries: u64,

    /// Most bytes of document text kept for automatic persisted queries, per instance; past it
    /// the least recently used are forgotten. A document larger than this runs but is not kept.
    #[arg(long, env = "APQ_MAX_BYTES", default_value_t = 8 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub apq_max_bytes: u64,
}

//! Persisted documents, named by a hash in `extensions.persistedQuery` (Apollo's protocol):
//! automatic persisted queries (APQ), where a client registers a document by sending its text
//! with its SHA-256 once and then the hash alone; or, with `--trusted-documents`, only the
//! operations of a manifest run, and nothing is registered.
//!
//! Resolved in async-graphql's `prepare_request` hook, before `limits.rs`: the limits measure the
//! text that will run, however it was named, and a document is registered only once they passed.
//! `fill_in` resolves a hash for the HTTP layer first, so that GET sees what it would run.

mod manifest;
mod store;

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::{Request, ServerError, ServerResult};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::config::DocumentsConfig;
use crate::graphql::AppSchema;
use crate::graphql::codes;
use crate::graphql::limits::refusal;

use manifest::Manifest;
use store::Store;

/// What this instance does with persisted documents; the schema extension that does it.
#[derive(Clone)]
pub struct Persisted(Arc<Mode>);

enum Mode {
    /// APQ: clients register documents, kept in a bounded LRU.
    Automatic(Store),
    /// Only a manifest's operations run.
    Trusted(Manifest),
}

impl Persisted {
    /// APQ with the configured bounds, or the trusted documents of `--trusted-documents`, read
    /// and checked now (an unreadable or invalid manifest stops the start).
    pub fn new(config: &DocumentsConfig) -> anyhow::Result<Self> {
        let mode = match &config.trusted_documents {
            Some(path) => {
                let manifest = Manifest::load(path)?;
                tracing::info!(
                    "running only the {} operations of {} (--trusted-documents)",
                    manifest.len(),
                    path.display()
                );
                Mode::Trusted(manifest)
            }
            None => Mode::Automatic(Store::new(
                usize::try_from(config.apq_max_entries).unwrap_or(usize::MAX),
                usize::try_from(config.apq_max_bytes).unwrap_or(usize::MAX),
            )),
        };
        Ok(Self(Arc::new(mode)))
    }

    /// Puts the text of what `request` will run in its `query`, if a hash names it; refuses a
    /// request this mode does not run. Returns the hash to register the text under, if any,
    /// once it has passed the limits.
    fn resolve(&self, request: &mut Request) -> ServerResult<Option<String>> {
        let hash = named(request)?;
        match (&*self.0, hash) {
            (Mode::Automatic(_), None) => Ok(None),
            (Mode::Automatic(store), Some(hash)) => {
                let hash = hash.to_ascii_lowercase();
                if request.query.is_empty() {
                    let text = store.get(&hash).ok_or_else(not_found)?;
                    request.query = text.to_string();
                    Ok(None)
                } else if sha256_hex(&request.query) == hash {
                    Ok(Some(hash))
                } else {
                    Err(mismatch())
                }
            }
            (Mode::Trusted(manifest), None) if manifest.lists(&request.query) => Ok(None),
            (Mode::Trusted(_), None) => Err(not_trusted()),
            (Mode::Trusted(manifest), Some(id)) => {
                let body = manifest.body(&id).ok_or_else(not_trusted)?;
                if request.query.is_empty() {
                    request.query = body.to_string();
                } else if *request.query != **body {
                    return Err(mismatch());
                }
                Ok(None)
            }
        }
    }
}

/// Puts in `request.query` the text its hash names, if it came with a hash only, so that the
/// caller sees what will run (the text then runs as it was checked, whatever is registered
/// meanwhile); refuses a hash this instance does not know.
pub fn fill_in(schema: &AppSchema, request: &mut Request) -> ServerResult<()> {
    match schema.data::<Persisted>() {
        Some(persisted) if request.query.is_empty() => persisted.resolve(request).map(drop),
        _ => Ok(()),
    }
}

/// The SHA-256 of `text`, as APQ names documents: 64 lowercase hex digits.
fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[derive(Deserialize)]
struct PersistedQuery {
    version: u64,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// The hash (or, of trusted documents, the id) in the request's `extensions.persistedQuery`.
fn named(request: &Request) -> ServerResult<Option<String>> {
    let Some(value) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let bad = |what: &str| {
        let message = format!("extensions.persistedQuery {what}");
        refusal(codes::BAD_REQUEST, message, None)
    };
    let named: PersistedQuery = async_graphql::from_value(value.clone())
        .map_err(|_| bad("must be {\"version\": 1, \"sha256Hash\": \"<hex>\"}"))?;
    if named.version != 1 {
        return Err(bad("has a version other than 1"));
    }
    Ok(Some(named.sha256_hash))
}

fn not_found() -> ServerError {
    // Apollo's clients look for this message (or the code), then send the text with the hash.
    refusal(
        codes::PERSISTED_QUERY_NOT_FOUND,
        "PersistedQueryNotFound".to_owned(),
        None,
    )
}

fn mismatch() -> ServerError {
    let message = "the query is not the document its extensions.persistedQuery.sha256Hash names: \
                   the hash must be the SHA-256 of the text, in hex";
    refusal(
        codes::PERSISTED_QUERY_HASH_MISMATCH,
        message.to_owned(),
        None,
    )
}

fn not_trusted() -> ServerError {
    let message = "this server runs only the operations of its trusted documents manifest, and \
                   this is not one of them";
    refusal(codes::OPERATION_NOT_TRUSTED, message.to_owned(), None)
}

impl ExtensionFactory for Persisted {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Persisted {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let register = self.resolve(&mut request)?;
        let text = register
            .as_ref()
            .map(|_| Arc::<str>::from(request.query.as_str()));
        let prepared = next.run(ctx, request).await?;
        if let (Mode::Automatic(store), Some(hash), Some(text)) = (&*self.0, register, text) {
            store.insert(hash, text);
        }
        Ok(prepared)
    }
}

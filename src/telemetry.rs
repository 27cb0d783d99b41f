//! Logging: `tracing` to standard error, filtered by `--log-level` / `LOG_LEVEL` (or `RUST_LOG`),
//! the span every dispatched command and query runs in, and `Fault`, the failures of either that
//! no client can fix, sorted the one way both buses report them.

use std::future::Future;
use std::time::Instant;

use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs one dispatched message in a `dispatch` span with its `kind` (`command` or `query`),
/// `name`, `outcome` (`ok` or what `outcome` says of the error) and `duration_ms`, closed by a
/// debug event.
pub async fn dispatched<T, E>(
    kind: &'static str,
    name: &'static str,
    work: impl Future<Output = Result<T, E>>,
    outcome: fn(&E) -> &'static str,
) -> Result<T, E> {
    let span = tracing::info_span!(
        "dispatch",
        kind,
        name,
        outcome = tracing::field::Empty,
        duration_ms = tracing::field::Empty
    );
    let started = Instant::now();
    let result = work.instrument(span.clone()).await;
    span.record("outcome", result.as_ref().map_or_else(outcome, |_| "ok"));
    span.record("duration_ms", started.elapsed().as_secs_f64() * 1e3);
    span.in_scope(|| tracing::debug!("{kind} handled"));
    result
}

/// A failure no client can fix, shared by `CommandError` and `QueryError`: a database that could
/// not be reached (`db::is_unavailable`), or anything else.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The database could not be reached. Clients see `SERVICE_UNAVAILABLE` and retry.
    #[error("the database is unavailable")]
    Unavailable(anyhow::Error),
    /// Anything else (a bug). Clients see `INTERNAL_SERVER_ERROR` and an `errorId`; the cause goes
    /// to the log only.
    #[error("internal error")]
    Unexpected(anyhow::Error),
}

impl From<anyhow::Error> for Fault {
    fn from(err: anyhow::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            Fault::Unavailable(err)
        } else {
            Fault::Unexpected(err)
        }
    }
}

impl Fault {
    /// The label of the outcome in spans and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Fault::Unavailable(_) => "unavailable",
            Fault::Unexpected(_) => "error",
        }
    }
}

//! Logging: `tracing` to standard error, filtered by `--log-level` / `LOG_LEVEL` (or `RUST_LOG`),
//! and the span every dispatched command and query runs in.

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

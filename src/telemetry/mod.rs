//! Telemetry: logs (`tracing` to standard error as text or JSON, filtered by `--log-level` /
//! `LOG_LEVEL` or `RUST_LOG`), trace spans exported over OTLP when an endpoint is set
//! (`traces.rs`), each server's Prometheus metrics (`metrics.rs`, `collect.rs`); the span and
//! the count of every dispatched command and query, and `Fault`, the failures of either that no
//! client can fix, sorted the one way both buses report them.

mod collect;
mod metrics;
pub mod traces;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, Telemetry};

pub use collect::ProjectionSnapshot;
pub use metrics::{CONTENT_TYPE, LiveGauges, MAX_OPERATION_NAMES, Metrics, Open, ProjectorMetrics};

/// Installs the global subscriber: the log on standard error (`RUST_LOG`, when set, wins over
/// `--log-level`) and, with `--otlp-endpoint`, the export of spans. Keep the returned `Tracer`
/// until the end, then `shutdown` it to send the last spans.
pub fn init(config: &Telemetry) -> anyhow::Result<Tracer> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&config.log_level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let stderr = std::io::stderr;
    let log = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(stderr)
            .boxed(),
    };
    // sea-orm's span per SQL statement is for traces: the log has no use for it, so without an
    // exporter no layer asks for it and it is never made.
    let no_statements = filter_fn(|meta| !(meta.is_span() && meta.target().starts_with("sea_orm")));
    let provider = config
        .otlp_endpoint
        .as_ref()
        .map(traces::otlp)
        .transpose()?;
    let spans = provider
        .as_ref()
        .map(|p| traces::layer(p).with_filter(filter()));
    tracing_subscriber::registry()
        .with(log.with_filter(filter().and(no_statements)))
        .with(spans)
        .try_init()?;
    Ok(Tracer(provider))
}

/// The span exporter, if any: `shutdown` sends what it still holds.
#[must_use = "shut it down at exit, or the last spans are lost"]
pub struct Tracer(Option<SdkTracerProvider>);

impl Tracer {
    /// Sends the spans still buffered and stops the exporter (blocks until then).
    pub fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "could not send the last trace spans");
        }
    }
}

tokio::task_local! {
    /// The metrics of the server whose request is running, for `dispatched`: the buses are
    /// shared by nothing else, but several servers may share a process.
    static SERVING: Arc<Metrics>;
}

/// Runs `work` (a GraphQL operation) so that what it dispatches is counted in `metrics`.
pub async fn counted_in<F: Future>(metrics: Arc<Metrics>, work: F) -> F::Output {
    SERVING.scope(metrics, work).await
}

/// Polls `stream` (a GraphQL operation over a WebSocket) so that what it dispatches is counted
/// in `metrics`.
pub fn stream_counted_in<S: futures::Stream + Unpin>(
    metrics: Arc<Metrics>,
    mut stream: S,
) -> impl futures::Stream<Item = S::Item> {
    futures::stream::poll_fn(move |cx| {
        SERVING.sync_scope(metrics.clone(), || stream.poll_next_unpin(cx))
    })
}

/// Runs one dispatched message in a `dispatch` span with its `kind` (`command` or `query`),
/// `name`, `outcome` (`ok` or what `outcome` says of the error) and `duration_ms`, closed by a
/// debug event, and counts it in the serving server's `cqrs_dispatches_total`.
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
    let took = started.elapsed();
    let outcome = result.as_ref().map_or_else(outcome, |_| "ok");
    span.record("outcome", outcome);
    span.record("duration_ms", took.as_secs_f64() * 1e3);
    let _ = SERVING.try_with(|metrics| metrics.dispatch(kind, name, outcome, took));
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

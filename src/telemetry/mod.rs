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
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Telemetry};

pub use collect::ProjectionSnapshot;
pub use metrics::{CONTENT_TYPE, LiveGauges, MAX_OPERATION_NAMES, Metrics, Open, ProjectorMetrics};

/// Installs the global subscriber: the log on standard error (`RUST_LOG`, when set, wins over
/// `--log-level`) and, with `--otlp-endpoint`, the export of spans. Keep the returned `Tracer`
/// until the end, then `shutdown` it to send the last spans.
pub fn init(config: &Telemetry) -> anyhow::Result<Tracer> {
    let provider = config
        .otlp_endpoint
        .as_ref()
        .map(traces::otlp)
        .transpose()?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let log = Log {
        format: config.log_format,
        ansi: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    subscriber(filter, log, std::io::stderr, provider.as_ref()).try_init()?;
    Ok(Tracer(provider))
}

/// How the log is written.
#[derive(Debug, Clone, Copy)]
struct Log {
    format: LogFormat,
    ansi: bool,
}

/// Everything goes through `filter`, as a global filter; then the log (without sea-orm's span per
/// SQL statement, which is for traces) to `writer` and, with a `provider`, every span to the
/// exporter.
///
/// The filters are global, not per layer, wherever one layer is enough. A per-layer filter
/// carries its verdict from `enabled` to the event in a thread-local, and a callsite whose
/// interest is cached as "always" skips `enabled`: it reads whatever verdict the last `enabled`
/// call on that thread left. sqlx asks `log::log_enabled!` after every statement, which goes to
/// `enabled` through `tracing-log` with a target the log level refuses, so the next event on that
/// thread was dropped (tokio-rs/tracing#2519): at `warn,cqrs_users=info`, the in-memory model's
/// "loaded" line, logged after its load's commit, never appeared. With the global filter a
/// refused callsite stops there and leaves no verdict behind; and no span below the level is
/// made in the registry for nobody.
fn subscriber<W>(
    filter: EnvFilter,
    log: Log,
    writer: W,
    provider: Option<&SdkTracerProvider>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filtered = tracing_subscriber::registry().with(filter);
    match provider {
        None => Box::new(
            filtered
                .with(filter_fn(not_a_statement))
                .with(log_layer(log, writer)),
        ),
        // Here the log and the exporter want different spans, so the log's filter is its own.
        // The exporter's takes everything: a layer without one would lose the spans the log's
        // refuses, and with it some layer accepts every callsite the global filter lets through,
        // so no refusal is left behind on a thread.
        Some(p) => Box::new(
            filtered
                .with(log_layer(log, writer).with_filter(filter_fn(not_a_statement)))
                .with(traces::layer(p).with_filter(LevelFilter::TRACE)),
        ),
    }
}

/// Whether `meta` is not sea-orm's span of a SQL statement.
fn not_a_statement(meta: &tracing::Metadata<'_>) -> bool {
    !(meta.is_span() && meta.target().starts_with("sea_orm"))
}

/// The log's layer: text (in colour on a terminal) or JSON, one line per event, to `writer`.
fn log_layer<S, W>(log: Log, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match log.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(log.ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
    }
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// A log writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    const TEXT: Log = Log {
        format: LogFormat::Text,
        ansi: false,
    };

    #[test]
    fn without_an_exporter_a_span_below_the_log_level_is_never_made() {
        let subscriber = subscriber(EnvFilter::new("warn"), TEXT, std::io::sink, None);
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::info_span!("request").is_disabled());
            assert!(tracing::info_span!(target: "sea_orm::driver", "statement").is_disabled());
            assert!(!tracing::warn_span!("shown").is_disabled());
        });
    }

    /// What sqlx does after every statement (a `log` level check the log level refuses) must not
    /// drop the next line the level lets through, with or without an exporter.
    #[test]
    fn a_refused_log_check_does_not_drop_the_next_line() {
        // `log` records reach tracing as the server's do (`try_init` installs the same bridge).
        let _ = tracing_log::LogTracer::init();
        let exporter = SdkTracerProvider::builder().build();
        for provider in [None, Some(&exporter)] {
            let captured = Captured::default();
            let filter = EnvFilter::new("warn,cqrs_users=info");
            let writer = captured.clone();
            let subscriber = subscriber(filter, TEXT, move || writer.clone(), provider);
            tracing::subscriber::with_default(subscriber, || {
                for round in 0..3 {
                    assert!(!log::log_enabled!(target: "sqlx::query", log::Level::Info));
                    tracing::info!(target: "cqrs_users", round, "model loaded");
                }
            });
            let text = captured.text();
            for round in 0..3 {
                assert!(
                    text.contains(&format!("model loaded round={round}")),
                    "exporter {}: round {round} missing from the log:\n{text}",
                    provider.is_some()
                );
            }
        }
    }
}

//! Trace spans, caught in memory as a collector would receive them. Only traces a test starts
//! are kept: the provider samples a trace only under a sampled `traceparent` (a root span of its
//! own is dropped), so the rest of the suite records nothing; a test sends its own trace id.

use std::sync::OnceLock;

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::registry::LookupSpan;

fn provider() -> &'static (SdkTracerProvider, InMemorySpanExporter) {
    static PROVIDER: OnceLock<(SdkTracerProvider, InMemorySpanExporter)> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .with_simple_exporter(exporter.clone())
            .build();
        (provider, exporter)
    })
}

/// The service's own OpenTelemetry layer, on the in-memory exporter, for `info` spans and up.
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    cqrs_users::telemetry::traces::layer(&provider().0).with_filter(LevelFilter::INFO)
}

/// A trace id no other test uses, as 32 hex digits.
pub fn new_trace_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The spans of trace `id` that have ended so far.
pub fn spans_of(id: &str) -> Vec<SpanData> {
    let id = TraceId::from_hex(id).expect("a trace id");
    let spans = provider()
        .1
        .get_finished_spans()
        .expect("the exporter answers");
    spans
        .into_iter()
        .filter(|span| span.span_context.trace_id() == id)
        .collect()
}

//! Traces: the `tracing` spans exported as OpenTelemetry spans over OTLP (HTTP, protobuf) when an
//! endpoint is configured, a W3C `traceparent` adopted as a request's parent, and the spans of
//! long-lived tasks made roots of their own traces.

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};
use tracing_subscriber::registry::LookupSpan;

/// The `service.name` of every exported span.
pub const SERVICE_NAME: &str = "cqrs-users";

/// A provider that batches spans to the OTLP collector at `endpoint`, a base URL as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` has it (`/v1/traces` is appended). Spans are sent from a thread
/// of the provider's own; a collector that is down costs dropped spans, never a request.
pub fn otlp(endpoint: &url::Url) -> anyhow::Result<SdkTracerProvider> {
    let traces = format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build())
}

/// This service's resource: its name and version.
pub fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name(SERVICE_NAME)
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider` (tests give it
/// one with an in-memory exporter).
pub fn layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_threads(false)
        .with_location(false)
}

/// Makes `span` the child of the remote span a W3C `traceparent` header names, if the request
/// has a valid one, and otherwise the root of a trace of its own (not a child of the `instance`
/// span, which lasts as long as the process). Nothing happens when no spans are exported.
pub fn adopt_remote_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let parent = TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &HeaderExtractor(headers));
    // Without the OpenTelemetry layer there is nothing to parent: `LayerNotFound`.
    let _ = span.set_parent(parent);
}

/// Makes `span` the root of its own trace, though its `tracing` parent (for the log) stays: a
/// projector batch, say, is one trace, not a child of the process-long `instance` span.
pub fn detach(span: &tracing::Span) {
    let _ = span.set_parent(Context::new());
}

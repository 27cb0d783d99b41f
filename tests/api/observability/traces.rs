//! Trace spans as a collector gets them: a request is one trace, continuing the caller's
//! `traceparent`, from HTTP through GraphQL and the bus to each SQL statement. The suite's
//! subscriber exports spans to memory (`helpers/traces.rs`); a test reads its own trace's.

use std::time::Duration;

use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};

use crate::helpers::traces::{new_trace_id, spans_of};
use crate::helpers::{Backend, CREATE_USER, both_engines, eventually, spawn_app};

const CALLER_SPAN: &str = "00f067aa0ba902b7";
const WAIT: Duration = Duration::from_secs(10);

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    let found = span.attributes.iter().find(|kv| kv.key.as_str() == key);
    found.map(|kv| kv.value.to_string())
}

/// The one span of `spans` named `name`.
fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(found.len(), 1, "one {name} span among {names:?}");
    found[0]
}

async fn a_request_is_one_trace_from_http_to_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let trace = new_trace_id();
    let variables = json!({ "input": { "name": "Ada", "email": "ada@example.com" } });
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("x-request-id", "traced-1")
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .json(&json!({ "query": CREATE_USER, "variables": variables }))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert!(answer.get("errors").is_none(), "{answer:#}");

    // The request span ends once its response is sent, which the client may see first.
    let spans = eventually(WAIT, "the request span to end", async || {
        let spans = spans_of(&trace);
        match spans.iter().any(|s| s.name == "request") {
            true => Ok(spans),
            false => Err(format!("{} spans", spans.len())),
        }
    })
    .await;
    let (request, graphql) = (named(&spans, "request"), named(&spans, "graphql"));
    let dispatch = named(&spans, "dispatch");
    assert_eq!(
        request.parent_span_id,
        SpanId::from_hex(CALLER_SPAN).unwrap()
    );
    assert!(request.parent_span_is_remote);
    assert_eq!(
        attribute(request, "request_id").as_deref(),
        Some("traced-1")
    );
    assert_eq!(graphql.parent_span_id, request.span_context.span_id());
    assert_eq!(
        attribute(graphql, "operation").as_deref(),
        Some("CreateUser")
    );
    assert_eq!(attribute(graphql, "type").as_deref(), Some("mutation"));
    assert_eq!(attribute(graphql, "outcome").as_deref(), Some("ok"));
    assert_eq!(dispatch.parent_span_id, graphql.span_context.span_id());
    assert_eq!(attribute(dispatch, "name").as_deref(), Some("CreateUser"));
    assert_eq!(attribute(dispatch, "outcome").as_deref(), Some("ok"));

    // The handler's SQL: statements under the dispatch span, with the engine named.
    let dispatch_id = dispatch.span_context.span_id();
    let statements: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("sea_orm.") && s.parent_span_id == dispatch_id)
        .collect();
    let names: Vec<&str> = statements.iter().map(|s| s.name.as_ref()).collect();
    assert!(
        names.contains(&"sea_orm.begin") && names.contains(&"sea_orm.commit"),
        "{names:?}"
    );
    for statement in statements {
        assert!(attribute(statement, "db.system").is_some(), "{statement:?}");
    }
}

/// A request without `traceparent` starts a trace of its own: it is not the child of anything
/// (and this suite's sampler, honouring only sampled callers, records none of it).
async fn a_caller_that_does_not_sample_is_obeyed(backend: Backend) {
    let app = spawn_app(backend).await;
    let trace = new_trace_id();
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-00"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answered = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(answered["data"]["__typename"], "Query");
    assert!(spans_of(&trace).is_empty());
}

both_engines!(
    a_request_is_one_trace_from_http_to_the_database,
    a_caller_that_does_not_sample_is_obeyed,
);

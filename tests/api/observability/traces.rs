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
    let on_postgres = matches!(backend, Backend::Postgres(_));
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

    // The handler's SQL: under the span of the batch of creates it was written in, a child of
    // the dispatch span, with the engine named. On PostgreSQL a batch is one statement, its own
    // transaction; on SQLite a transaction.
    let batch = named(&spans, "batch");
    assert_eq!(batch.parent_span_id, dispatch.span_context.span_id());
    assert_eq!(attribute(batch, "creates").as_deref(), Some("1"));
    let parent_id = batch.span_context.span_id();
    let statements: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("sea_orm.") && s.parent_span_id == parent_id)
        .collect();
    let names: Vec<&str> = statements.iter().map(|s| s.name.as_ref()).collect();
    if on_postgres {
        assert_eq!(names, ["sea_orm.query_all"]);
    } else {
        assert!(
            names.contains(&"sea_orm.begin") && names.contains(&"sea_orm.commit"),
            "{names:?}"
        );
    }
    for statement in statements {
        assert!(attribute(statement, "db.system").is_some(), "{statement:?}");
    }
}

both_engines!(a_request_is_one_trace_from_http_to_the_database);

/// One request as a collector's OTLP/HTTP endpoint gets it: its path, content type and body.
struct Received {
    head: String,
    body: Vec<u8>,
}

/// A collector on loopback that answers 200 to every request and hands each on.
async fn collector() -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut head = String::new();
                    while !head.ends_with("\r\n\r\n") {
                        if stream.read_line(&mut head).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>())
                        })
                        .and_then(Result::ok)
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    stream.get_mut().write_all(answer).await.unwrap();
                    let _ = tx.send(Received { head, body });
                }
            });
        }
    });
    (address, rx)
}

/// The binary with `--otlp-endpoint` sends its spans to the collector over OTLP/HTTP (protobuf),
/// at the latest when it shuts down: the caller's trace, down to its SQL, and the projector's
/// batch, a trace of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector() {
    let (endpoint, mut received) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = crate::helpers::binary();
    command
        .current_dir(dir.path())
        .args(["--otlp-endpoint", &endpoint]);
    let mut served = crate::helpers::Served::start(command);
    let client = crate::helpers::Client::new(&served.address);
    let created = client.create_user("Ada", "ada@example.com").await;
    let trace = new_trace_id();
    let response = client
        .http()
        .post(client.url("/graphql"))
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = Some(created.consistency_token.as_str());
    client.user(&created.user.id, token).await.ok();
    served.signal("-TERM");
    assert!(served.exit(WAIT).success());

    let trace_bytes = opentelemetry::trace::TraceId::from_hex(&trace)
        .unwrap()
        .to_bytes();
    let mut bodies = Vec::new();
    while let Ok(request) = received.try_recv() {
        let head = request.head.to_ascii_lowercase();
        assert!(head.starts_with("post /v1/traces "), "{head}");
        assert!(
            head.contains("content-type: application/x-protobuf"),
            "{head}"
        );
        bodies.push(request.body);
    }
    let carries = |needle: &[u8]| {
        bodies
            .iter()
            .any(|b| b.windows(needle.len()).any(|w| w == needle))
    };
    assert!(carries(&trace_bytes), "no export carried trace {trace}");
    for name in [
        "request",
        "graphql",
        "dispatch",
        "sea_orm.commit",
        "projector_batch",
    ] {
        assert!(carries(name.as_bytes()), "no {name} span exported");
    }
}

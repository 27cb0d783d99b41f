//! The kinds of hostile request the benchmark sends, and how each answer is described.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::Server;

/// A kind of hostile request: sends it and describes what came back.
type Kind = for<'a> fn(
    &'a reqwest::Client,
    &'a Server,
) -> futures::future::BoxFuture<'a, anyhow::Result<String>>;

pub fn corpus() -> Vec<(&'static str, Kind)> {
    vec![
        ("22 fragments, each spreading the last twice", |c, s| {
            Box::pin(post_described(c, &s.address, fragment_doubling(22)))
        }),
        ("28 fragments, each spreading the last twice", |c, s| {
            Box::pin(post_described(c, &s.address, fragment_doubling(28)))
        }),
        ("fragment cycle", |c, s| {
            let query = "{ ...a } fragment a on Query { ...b } fragment b on Query { ...a }";
            Box::pin(post_described(c, &s.address, json!({ "query": query })))
        }),
        ("333 aliases of users(pageSize: 100)", |c, s| {
            Box::pin(post_described(c, &s.address, aliases(333)))
        }),
        (
            "batch of 32 × 333 aliases of users(pageSize: 100)",
            |c, s| {
                let batch = Value::Array((0..32).map(|_| aliases(333)).collect());
                Box::pin(post_described(c, &s.address, batch))
            },
        ),
        ("50 000 __typename aliases", |c, s| {
            let fields: String = (0..50_000).map(|i| format!("a{i}: __typename ")).collect();
            Box::pin(post_described(
                c,
                &s.address,
                json!({ "query": format!("{{{fields}}}") }),
            ))
        }),
        ("10 000 unused variables", |c, s| {
            let vars: Vec<String> = (0..10_000).map(|i| format!("$v{i}: Int")).collect();
            let query = format!("query q({}) {{ __typename }}", vars.join(", "));
            Box::pin(post_described(c, &s.address, json!({ "query": query })))
        }),
        ("depth 200", |c, s| {
            let query = format!("{{ {} b {} }}", "a { ".repeat(200), "} ".repeat(200));
            Box::pin(post_described(c, &s.address, json!({ "query": query })))
        }),
        ("1 MB document of whitespace and one field", |c, s| {
            let query = format!("{{{} __typename }}", " ".repeat(1 << 20));
            Box::pin(post_described(c, &s.address, json!({ "query": query })))
        }),
        ("100 MB JSON body", |c, s| {
            let body = format!(
                r#"{{"query":"{{ __typename }}","variables":{{"x":"{}"}}}}"#,
                "a".repeat(100 << 20)
            );
            Box::pin(post_raw(
                c,
                &s.address,
                "application/json",
                body.into_bytes(),
            ))
        }),
        ("multipart with a 200 MB file", |c, s| {
            let mut body = b"--b\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ __typename }\"}\r\n--b\r\nContent-Disposition: form-data; name=\"0\"; filename=\"x\"\r\n\r\n".to_vec();
            body.extend(std::iter::repeat_n(b'x', 200 << 20));
            body.extend(b"\r\n--b--\r\n");
            Box::pin(post_raw(
                c,
                &s.address,
                "multipart/form-data; boundary=b",
                body,
            ))
        }),
        ("malformed JSON", |c, s| {
            Box::pin(post_raw(
                c,
                &s.address,
                "application/json",
                b"{nope".to_vec(),
            ))
        }),
        ("text/plain mutation (cross-site form)", |c, s| {
            let body = create_user("csrf@evil.example").to_string().into_bytes();
            Box::pin(post_raw(c, &s.address, "text/plain", body))
        }),
        ("two operations, no operationName", |c, s| {
            let query = "query a { __typename } query b { __typename }";
            Box::pin(post_described(c, &s.address, json!({ "query": query })))
        }),
        ("100 connections sending headers slowly", |_, s| {
            Box::pin(slow_connections(
                &s.address,
                100,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
            ))
        }),
        ("50 unfinished bodies", |_, s| {
            let head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":";
            Box::pin(slow_connections(&s.address, 50, head))
        }),
        (
            "300 concurrent requests at the cost limit (10 pages of 100 users)",
            |c, s| Box::pin(at_the_limit(c, &s.address, 300)),
        ),
        ("200 WebSockets that never send connection_init", |_, s| {
            Box::pin(idle_websockets(&s.address, 200))
        }),
        ("1000 subscriptions on one WebSocket", |_, s| {
            Box::pin(many_subscriptions(&s.address, 1000))
        }),
    ]
}

pub fn create_user(email: &str) -> Value {
    json!({
        "query": "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
        "variables": { "i": { "name": "Bench", "email": email } }
    })
}

fn fragment_doubling(n: usize) -> Value {
    let fragments: Vec<String> = (1..=n)
        .map(|i| format!("fragment f{i} on Query {{ ...f{} ...f{} }}", i - 1, i - 1))
        .collect();
    let query = format!(
        "{{ ...f{n} }} fragment f0 on Query {{ __typename }} {}",
        fragments.join(" ")
    );
    json!({ "query": query })
}

fn aliases(n: usize) -> Value {
    let fields: String = (0..n)
        .map(|i| format!("a{i}: users(pageSize: 100) {{ nodes {{ id name email }} }} "))
        .collect();
    json!({ "query": format!("{{{fields}}}") })
}

pub async fn post(client: &reqwest::Client, address: &str, body: &Value) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{address}/graphql"))
        .json(body)
        .send()
        .await?;
    Ok(response.json().await?)
}

async fn post_described(
    client: &reqwest::Client,
    address: &str,
    body: Value,
) -> anyhow::Result<String> {
    let bytes = serde_json::to_vec(&body)?;
    post_raw(client, address, "application/json", bytes).await
}

async fn post_raw(
    client: &reqwest::Client,
    address: &str,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<String> {
    let sent = client
        .post(format!("{address}/graphql"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(err) => return Ok(format!("connection ended: {err}")),
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Ok(format!("HTTP {status} {}", describe(&text)))
}

/// The codes of a GraphQL response's errors (first and how many), or `data` when none.
fn describe(text: &str) -> String {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let responses = match &body {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let errors: Vec<&Value> = responses
        .iter()
        .filter_map(|r| r["errors"].as_array())
        .flatten()
        .collect();
    match errors.first() {
        Some(first) => {
            let code = first["extensions"]["code"].as_str().unwrap_or("(no code)");
            format!("{code} ({} errors)", errors.len())
        }
        None if body.is_null() => format!("not JSON: {:.60}", text.replace('\n', " ")),
        None => "data".to_owned(),
    }
}

/// Opens `n` connections that send `head` a byte at a time, one byte a second, and reports
/// how many the server closed within 30 s.
async fn slow_connections(address: &str, n: usize, head: &'static [u8]) -> anyhow::Result<String> {
    let host = address.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&host).await.ok()?;
            for byte in head.iter().cycle().take(30) {
                if stream.write_all(&[*byte]).await.is_err() {
                    return Some(Instant::now());
                }
                let mut buf = [0; 1024];
                let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf));
                if let Ok(Ok(0) | Err(_)) = read.await {
                    return Some(Instant::now());
                }
            }
            None
        }));
    }
    let mut closed = Vec::new();
    for task in tasks {
        if let Ok(Some(at)) = task.await {
            closed.push(at.duration_since(started));
        }
    }
    let latest = closed.iter().max().map_or(0.0, Duration::as_secs_f64);
    Ok(format!(
        "{} of {n} closed by the server (last after {latest:.1} s)",
        closed.len()
    ))
}

/// Opens `n` WebSockets that send nothing, and reports how many the server closed within 30 s.
async fn idle_websockets(address: &str, n: usize) -> anyhow::Result<String> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = address.replace("http://", "ws://") + "/graphql";
        tasks.push(tokio::spawn(async move {
            let mut request = url.into_client_request().ok()?;
            request.headers_mut().insert(
                "sec-websocket-protocol",
                "graphql-transport-ws".parse().ok()?,
            );
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
            let closed = tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(message) = socket.next().await {
                    if let Ok(Message::Close(frame)) = message {
                        return frame.map(|f| u16::from(f.code));
                    }
                }
                None
            });
            closed.await.ok().flatten()
        }));
    }
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    for task in tasks {
        if let Ok(Some(code)) = task.await {
            *codes.entry(code).or_default() += 1;
        }
    }
    Ok(format!("closed by the server with codes {codes:?}"))
}

/// Subscribes `n` times on one socket and reports how the subscriptions were answered.
async fn many_subscriptions(address: &str, n: usize) -> anyhow::Result<String> {
    let url = address.replace("http://", "ws://") + "/graphql";
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init" }).to_string();
    socket.send(Message::text(init)).await?;
    for i in 0..n {
        let subscribe = json!({
            "id": i.to_string(),
            "type": "subscribe",
            "payload": { "query": "subscription { userEvents { position } }" }
        });
        if socket
            .send(Message::text(subscribe.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            let key = match message {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).unwrap_or_default();
                    let code = &message["payload"][0]["extensions"]["code"];
                    format!(
                        "{} {}",
                        message["type"].as_str().unwrap_or("?"),
                        code.as_str().unwrap_or("")
                    )
                }
                Message::Close(frame) => {
                    let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                    *seen.entry(format!("close {code}")).or_default() += 1;
                    return;
                }
                _ => continue,
            };
            *seen.entry(key.trim().to_owned()).or_default() += 1;
        }
    })
    .await;
    Ok(format!("{seen:?}"))
}

/// Sends `n` requests at once, each as costly as the limit lets one be (ten aliased pages of 100
/// users), and counts the answers by status and code.
async fn at_the_limit(client: &reqwest::Client, address: &str, n: usize) -> anyhow::Result<String> {
    let fields: String = (0..10)
        .map(|i| {
            format!(
                "p{i}: users(page: {}, pageSize: 100) {{ items {{ id name email }} }} ",
                i + 1
            )
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "query": format!("{{{fields}}}") }))?;
    let requests = (0..n).map(|_| post_raw(client, address, "application/json", body.clone()));
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for answer in futures::future::join_all(requests).await {
        *answers.entry(answer?).or_default() += 1;
    }
    Ok(format!("{answers:?}"))
}

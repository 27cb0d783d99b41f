//! The kinds of hostile request the benchmark sends, and how each answer is described.

use serde_json::{Value, json};

use crate::server::Server;
use crate::sockets::{idle_websockets, many_subscriptions, slow_connections};

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

/// Sends `n` requests at once, each as costly as the limit lets one be (ten aliased pages of 100
/// users), and counts the answers by status and code.
pub async fn at_the_limit(
    client: &reqwest::Client,
    address: &str,
    n: usize,
) -> anyhow::Result<String> {
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

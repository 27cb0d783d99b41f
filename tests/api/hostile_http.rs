//! Hostile HTTP, from the attacker's side: bodies too big (declared, streamed, multipart, gzip),
//! bodies that are not GraphQL, wrong content types, methods and paths. Each is refused with its
//! status and `extensions.code` before anything runs, nothing is written, and the server answers
//! `/healthz` right after. Slow and unfinished requests, load and shutdown: `hostile_connections`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::raw::{Raw, head};
use crate::helpers::{
    Backend, CREATE_USER, TestApp, assert_raw_refused, assert_refused, spawn_app,
};

/// Twice the default body limit (1 MiB).
const TWO_MB: usize = 2 * 1024 * 1024;

/// A `createUser` request: what runs, and writes, if a check in front of it is missing.
fn create_user(email: &str) -> Value {
    let input = json!({ "name": "Mallory", "email": email });
    json!({ "query": CREATE_USER, "variables": { "input": input } })
}

/// `create_user`, its query padded with a GraphQL comment to `size` bytes of JSON.
fn padded_create_user(size: usize) -> Vec<u8> {
    let mut request = create_user("big@example.com");
    let query = format!("{CREATE_USER}\n#{}", "x".repeat(size));
    request["query"] = query.into();
    serde_json::to_vec(&request).unwrap()
}

async fn post(app: &TestApp, content_type: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = app.http().post(app.url("/graphql")).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("an answer")
}

async fn post_json(app: &TestApp, body: &str) -> reqwest::Response {
    post(app, Some("application/json"), body.as_bytes().to_vec()).await
}

/// 2 MB with a `Content-Length`: 413 as soon as the head is read, the body left unread (the
/// answer comes while the client is still sending).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_the_limit_is_refused_unread() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = padded_create_user(TWO_MB);
    let length = format!("Content-Length: {}", body.len());
    let mut raw = Raw::connect(app.address()).await;
    raw.send(&head(
        "POST",
        "/graphql",
        &["Content-Type: application/json", &length],
    ))
    .await;
    let chunks = body.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    raw.send_in_background(chunks, Duration::from_millis(20));
    let response = raw.response(Duration::from_secs(20)).await;
    assert_raw_refused(&response, 413, "PAYLOAD_TOO_LARGE");
    app.assert_unharmed((0, 0)).await;
}

/// 2 MB streamed in chunks, no length announced: 413 once the limit is passed, the rest unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_over_the_limit_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = padded_create_user(TWO_MB);
    let mut chunks: Vec<Vec<u8>> = body
        .chunks(64 * 1024)
        .map(|data| {
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(data);
            chunk.extend_from_slice(b"\r\n");
            chunk
        })
        .collect();
    chunks.push(b"0\r\n\r\n".to_vec());
    let mut raw = Raw::connect(app.address()).await;
    let headers = [
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    ];
    raw.send(&head("POST", "/graphql", &headers)).await;
    raw.send_in_background(chunks, Duration::from_millis(20));
    let response = raw.response(Duration::from_secs(20)).await;
    assert_raw_refused(&response, 413, "PAYLOAD_TOO_LARGE");
    app.assert_unharmed((0, 0)).await;
}

/// A multipart upload announcing a 200 MB file: 415 from the head alone, nothing buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_is_refused_from_its_head() {
    let app = spawn_app(Backend::Sqlite).await;
    let operations = create_user("upload@example.com").to_string();
    let start = format!(
        "--X\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --X\r\nContent-Disposition: form-data; name=\"0\"; filename=\"big\"\r\n\r\n"
    );
    let mut raw = Raw::connect(app.address()).await;
    let headers = [
        "Content-Type: multipart/form-data; boundary=X",
        "Content-Length: 200000000",
    ];
    raw.send(&head("POST", "/graphql", &headers)).await;
    let mut chunks = vec![start.into_bytes()];
    chunks.extend((0..32).map(|_| vec![0u8; 64 * 1024]));
    raw.send_in_background(chunks, Duration::from_millis(20));
    let response = raw.response(Duration::from_secs(20)).await;
    assert_raw_refused(&response, 415, "UNSUPPORTED_MEDIA_TYPE");
    app.assert_unharmed((0, 0)).await;
}

/// A mutation sent as text, as a form (what a browser posts cross-site without asking), as
/// `application/graphql`, or with no content type: 415, and it does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_json_bodies_are_read() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = create_user("csrf@example.com").to_string().into_bytes();
    let types = [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/graphql"),
        Some("application/jsonx"),
        None,
    ];
    for content_type in types {
        let response = post(&app, content_type, body.clone()).await;
        assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    }
    app.assert_unharmed((0, 0)).await;
    // What clients send is read: a charset parameter, any case, and the GraphQL-over-HTTP
    // response type in `Accept`.
    let query = json!({ "query": "{ users { totalCount } }" }).to_string();
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let response = app
            .http()
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .header(
                "accept",
                "application/graphql-response+json, application/json",
            )
            .body(query.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["users"]["totalCount"], 0);
    }
}

/// Malformed JSON: 400 `BAD_REQUEST` with serde_json's account of where, no Rust `Debug` text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_graphql_error() {
    let app = spawn_app(Backend::Sqlite).await;
    for body in [
        "{",
        "{\"query\": }",
        "nope",
        "",
        "{\"query\": \"{ __typename }\"} x",
    ] {
        let refused = assert_refused(post_json(&app, body).await, 400, "BAD_REQUEST").await;
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("line 1"), "{body:?}: {message}");
        for debug in ["Error(", "InvalidRequest", "\"expected"] {
            assert!(!message.contains(debug), "{body:?}: {message}");
        }
    }
    app.assert_unharmed((0, 0)).await;
}

/// JSON that is not a GraphQL request (no `query`, an empty batch, a number, a string, null,
/// a query that is not a string): 400 `BAD_REQUEST`, not an empty document executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_is_not_a_graphql_request_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let bodies = [
        r#"{"nope":1}"#,
        "[]",
        "42",
        r#""{ users { totalCount } }""#,
        "null",
        r#"{"query":5}"#,
        r#"{"query":""}"#,
        r#"[{"query":"{ __typename }"},{"nope":1}]"#,
    ];
    for body in bodies {
        let response = post_json(&app, body).await;
        assert_refused(response, 400, "BAD_REQUEST").await;
    }
    app.assert_unharmed((0, 0)).await;
}

/// A key given twice, at the top or inside the variables: serde_json would run the last one,
/// which a proxy or a log reading the first would not see, so the request is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let mutation = create_user("dup@example.com")["query"].to_string();
    let input = r#"{"name":"Mallory","email":"a@example.com","email":"b@example.com"}"#;
    let bodies = [
        format!(r#"{{"query":"{{ __typename }}","query":{mutation}}}"#),
        format!(r#"{{"query":{mutation},"variables":{{"input":{input}}}}}"#),
    ];
    for body in bodies {
        let refused = assert_refused(post_json(&app, &body).await, 400, "BAD_REQUEST").await;
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("duplicate key"), "{message}");
    }
    app.assert_unharmed((0, 0)).await;
}

/// 64 MB of JSON gzipped to a few kilobytes: 415, never expanded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_is_not_expanded() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut gzip = Command::new("gzip")
        .args(["-c", "-9"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = gzip.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin
            .write_all(br#"{"query":"{ __typename }","x":""#)
            .unwrap();
        for _ in 0..64 {
            stdin.write_all(&[b' '; 1024 * 1024]).unwrap();
        }
        stdin.write_all(br#""}"#).unwrap();
    });
    let bomb = gzip.wait_with_output().unwrap().stdout;
    writer.join().unwrap();
    assert!(bomb.len() < 1024 * 1024, "a bomb: {} bytes", bomb.len());
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    app.assert_unharmed((0, 0)).await;
}

/// PUT, DELETE and PATCH on `/graphql`: 405 `METHOD_NOT_ALLOWED` with `Allow`, nothing runs; a
/// GET without a query: 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = create_user("method@example.com");
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let request = app.http().request(method.clone(), app.url("/graphql"));
        let response = request.json(&body).send().await.unwrap();
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        assert!(
            allow.contains("POST") && allow.contains("GET"),
            "{method}: {allow}"
        );
        assert_refused(response, 405, "METHOD_NOT_ALLOWED").await;
    }
    let response = app.http().get(app.url("/graphql")).send().await.unwrap();
    assert_refused(response, 400, "BAD_REQUEST").await;
    app.assert_unharmed((0, 0)).await;
}

/// An unknown path: 404 `NOT_FOUND` as a GraphQL error; the playground's own 404 stays plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_graphql_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/nope", "/graphql/", "/graphql/x", "/.env"] {
        let response = app.http().get(app.url(path)).send().await.unwrap();
        assert_refused(response, 404, "NOT_FOUND").await;
        let response = app
            .http()
            .post(app.url(path))
            .json(&create_user("p@example.com"));
        assert_refused(response.send().await.unwrap(), 404, "NOT_FOUND").await;
    }
    let response = app.http().get(app.url("/playground/nope.js")).send().await;
    assert_eq!(response.unwrap().status(), 404);
    app.assert_unharmed((0, 0)).await;
}

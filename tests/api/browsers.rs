//! Browsers turned against the service, from the attacker's side: DNS rebinding (`Host`), a
//! hijacked WebSocket (`Origin`), CORS, the playground's headers, the production switches, and
//! serving beyond loopback without authentication. Cross-site POSTs (text/plain, forms,
//! multipart) are refused with 415 in `hostile_http` (`only_json_bodies_are_read`,
//! `a_multipart_upload_is_refused_from_its_head`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::ws::{Protocol, Socket};
use crate::helpers::{
    Backend, CREATE_USER, TestApp, assert_refusal, assert_refused, spawn_app, spawn_app_with,
};

const EVIL: &str = "https://evil.example";

fn create_user(email: &str) -> Value {
    json!({ "query": CREATE_USER, "variables": { "input": { "name": "Ada", "email": email } } })
}

async fn post_with_host(app: &TestApp, host: &str) -> reqwest::Response {
    let request = app.http().post(app.url("/graphql")).header("host", host);
    request
        .json(&create_user("rebind@example.com"))
        .send()
        .await
        .unwrap()
}

/// A page on `evil.example`, its name re-pointed at 127.0.0.1, is same-origin with the server
/// for the browser; its `Host` gives it away: 421 `FORBIDDEN_HOST` on every route, nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_host_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    for host in [
        "evil.example",
        "evil.example:8000",
        "127.0.0.1.evil.example",
        "10.0.0.1",
    ] {
        assert_refused(post_with_host(&app, host).await, 421, "FORBIDDEN_HOST").await;
    }
    for path in [
        "/",
        "/playground/assets/playground.js",
        "/graphql?query={users{totalCount}}",
    ] {
        let response = app.http().get(app.url(path)).header("host", "evil.example");
        assert_refused(response.send().await.unwrap(), 421, "FORBIDDEN_HOST").await;
    }
    app.assert_unharmed((0, 0)).await;
    // Loopback names are served, with any port.
    for host in ["localhost:1", "app.localhost", "127.0.0.1", "[::1]:8000"] {
        let response = app.http().get(app.url("/")).header("host", host);
        assert_eq!(response.send().await.unwrap().status(), 200, "{host}");
    }
}

/// A page elsewhere opening a WebSocket with the user's reach (CORS does not hold WebSockets):
/// 403 `FORBIDDEN_ORIGIN` before the upgrade. Without `Origin` (not a browser) or from the
/// server's own origin, the socket opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hijacked_websocket_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    for origin in [EVIL, "http://localhost:1", "null"] {
        let headers = [("origin", origin)];
        let refused = Socket::try_connect(app.address(), Protocol::TransportWs, &headers).await;
        let Err((status, body)) = refused else {
            panic!("a WebSocket from {origin} opened");
        };
        assert_refusal(status, &body, 403, "FORBIDDEN_ORIGIN");
    }
    app.assert_unharmed((0, 0)).await;
    let own = app.address().to_owned();
    for headers in [vec![], vec![("origin", own.as_str())]] {
        let socket = Socket::try_connect(app.address(), Protocol::TransportWs, &headers).await;
        let Ok(mut socket) = socket else {
            panic!("a WebSocket with {headers:?} was refused");
        };
        socket.init().await;
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    let request = app
        .http()
        .request(reqwest::Method::OPTIONS, app.url("/graphql"));
    let request = request
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, apollographql-client-name",
        );
    request.send().await.unwrap()
}

/// CORS answers only the `--cors-origin` list; by default nobody. A listed origin may also open
/// a WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_listed_origins() {
    let app = spawn_app_with(Backend::Sqlite, &["--cors-origin", "https://app.example"]).await;
    let allowed = preflight(&app, "https://app.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let names = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(names.contains("apollographql-client-name"), "{names}");
    assert!(headers.get("access-control-allow-credentials").is_none());
    let other = preflight(&app, EVIL).await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let headers = [("origin", "https://app.example")];
    let socket = Socket::try_connect(app.address(), Protocol::TransportWs, &headers).await;
    assert!(socket.is_ok(), "a listed origin's WebSocket");

    let closed = spawn_app(Backend::Sqlite).await;
    let response = preflight(&closed, "https://app.example").await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    closed.assert_unharmed((0, 0)).await;
}

/// `--disable-introspection` refuses `__schema` and `__type` with a code; `--disable-suggestions`
/// leaves "Did you mean" out of errors (which it is in by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_suggestions_can_be_switched_off() {
    let flags = ["--disable-introspection", "--disable-suggestions"];
    let app = spawn_app_with(Backend::Sqlite, &flags).await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"User\") { name } }",
    ] {
        let response = app
            .http()
            .post(app.url("/graphql"))
            .json(&json!({ "query": query }));
        assert_refused(
            response.send().await.unwrap(),
            200,
            "INTROSPECTION_DISABLED",
        )
        .await;
    }
    let typo = json!({ "query": "{ userz { totalCount } }" });
    let quiet = app
        .http()
        .post(app.url("/graphql"))
        .json(&typo)
        .send()
        .await
        .unwrap();
    let quiet = quiet.text().await.unwrap();
    assert!(
        quiet.contains("GRAPHQL_VALIDATION_FAILED") && !quiet.contains("Did you mean"),
        "{quiet}"
    );
    app.assert_unharmed((0, 0)).await;

    let open = spawn_app(Backend::Sqlite).await;
    let told = open
        .http()
        .post(open.url("/graphql"))
        .json(&typo)
        .send()
        .await
        .unwrap();
    assert!(told.text().await.unwrap().contains("Did you mean"));
}

/// `--disable-playground`: `/` and its files are a GraphQL 404; `/graphql` still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_can_be_switched_off() {
    let app = spawn_app_with(Backend::Sqlite, &["--disable-playground"]).await;
    for path in ["/", "/playground/assets/playground.js"] {
        let response = app.http().get(app.url(path)).send().await.unwrap();
        assert_refused(response, 404, "NOT_FOUND").await;
    }
    let answer = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(answer["data"]["users"]["totalCount"], 0, "{answer}");
}

/// The playground may not be framed (clickjacking), runs only its own scripts, and leaks no
/// referrer; its files are not sniffed into another type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_sends_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/", "/playground/assets/playground.js"] {
        let response = app.http().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self';",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
}

/// Without authentication, a non-loopback address is refused at start-up unless
/// `--insecure-no-auth` says so; then it serves, to any `Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_address_needs_insecure_no_auth() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut refused = app.binary();
    refused
        .args(["--listen", "0.0.0.0:0"])
        .stderr(Stdio::piped());
    let mut refused = refused.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = refused.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            refused.kill().unwrap();
            refused.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut refused.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("it served on 0.0.0.0: {stderr}"));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");

    let mut child = app
        .binary()
        .args(["--listen", "0.0.0.0:0", "--insecure-no-auth"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut warned = false;
    let port = loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("it starts");
        warned |= line.contains("without authentication");
        if let Some(rest) = line.split("playground at http://0.0.0.0:").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    assert!(warned, "it says it serves without authentication");
    let url = format!("http://127.0.0.1:{port}/graphql?query={{users{{totalCount}}}}");
    let response = app
        .http()
        .get(url)
        .header("host", "evil.example")
        .send()
        .await;
    let status = response.unwrap().status();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200, "no Host check with --insecure-no-auth");
}

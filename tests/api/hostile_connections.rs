//! Hostile connections, from the attacker's side: heads too big or too slow, bodies never
//! finished, more requests than an instance serves at once, requests that would never end, and
//! a shutdown held up by them. Bodies and content types: `hostile_http`.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait as _, DatabaseTransaction, TransactionTrait as _};
use serde_json::json;

use crate::helpers::raw::{Raw, head};
use crate::helpers::ws::{Protocol, Subscription};
use crate::helpers::{
    Backend, Client, Served, TestApp, USERS, assert_raw_refused, assert_refused, both_engines,
    eventually, spawn_app, spawn_app_with,
};

/// A read that waits as long as it may: the projector is held back (an open transaction on the
/// counts row every batch updates) and a user created, and the read carries that write's token.
/// (A token no write issued is refused at once.) The read waits while the hold lasts: the app
/// must read the database model (`--read-model database`), since memory is not held back.
async fn waiting_read(app: &TestApp) -> (DatabaseTransaction, serde_json::Value) {
    let hold = app.read_db.begin().await.unwrap();
    hold.execute_unprepared("UPDATE users_view_stats SET user_count = user_count WHERE id = 1")
        .await
        .unwrap();
    let created = app.create_user("Awaited", "awaited@example.com").await;
    let token = created.consistency_token;
    let variables = json!({ "page": 1, "pageSize": 1, "consistencyToken": token });
    (hold, json!({ "query": USERS, "variables": variables }))
}

/// A 100 KB header, or 200 small ones: hyper answers 431 itself (an empty body, not a GraphQL
/// error: the request never reaches the service) and closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_heads_are_refused_by_hyper() {
    let app = spawn_app(Backend::Sqlite).await;
    let big = [format!("X-Big: {}", "a".repeat(100 * 1024))];
    let many: Vec<String> = (0..200).map(|i| format!("X-Many-{i}: a")).collect();
    for headers in [&big[..], &many[..]] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut raw = Raw::connect(app.address()).await;
        raw.send(&head("GET", "/healthz", &headers)).await;
        let response = raw.response(Duration::from_secs(20)).await;
        assert_eq!(response.status, 431, "{}", response.head);
        raw.assert_closed(Duration::from_secs(10)).await;
    }
    app.assert_unharmed((0, 0)).await;
}

/// A head sent a byte at a time never completes: the connection is closed after the
/// header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let app = spawn_app_with(Backend::Sqlite, &["--header-read-timeout-ms", "1000"]).await;
    let mut raw = Raw::connect(app.address()).await;
    let mut chunks = vec![b"GET /healthz HTTP/1.1\r\nX-Slow: ".to_vec()];
    chunks.extend((0..150).map(|_| b"a".to_vec()));
    raw.send_in_background(chunks, Duration::from_millis(200));
    raw.assert_closed(Duration::from_secs(10)).await;
    app.assert_unharmed((0, 0)).await;
}

/// A body that stops coming: 408 `REQUEST_TIMEOUT` after the body-read timeout, and the
/// connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_body_times_out() {
    let app = spawn_app_with(Backend::Sqlite, &["--body-read-timeout-ms", "1000"]).await;
    let mut raw = Raw::connect(app.address()).await;
    let headers = ["Content-Type: application/json", "Content-Length: 1000"];
    raw.send(&head("POST", "/graphql", &headers)).await;
    raw.send(br#"{"query":"#).await;
    let response = raw.response(Duration::from_secs(10)).await;
    assert_raw_refused(&response, 408, "REQUEST_TIMEOUT");
    raw.assert_closed(Duration::from_secs(10)).await;
    app.assert_unharmed((0, 0)).await;
}

/// With `--max-in-flight 2` held by two reads waiting on a token (one POST, one GET), the next
/// request is shed at once with 503 `SERVICE_OVERLOADED` and `Retry-After`; `/healthz` and
/// `/readyz` still answer.
async fn load_past_the_in_flight_bound_is_shed(backend: Backend) {
    let flags = [
        "--max-in-flight",
        "2",
        "--consistency-timeout-ms",
        "20000",
        "--read-model",
        "database",
    ];
    let app = spawn_app_with(backend, &flags).await;
    let (_projector_held, read) = waiting_read(&app).await;
    // One held read over POST and one over GET: the bound is the instance's, not a route's or
    // a method's.
    let hold = |by_get: bool| {
        let request = if by_get {
            let query = [
                ("query", read["query"].as_str().unwrap().to_owned()),
                ("variables", read["variables"].to_string()),
            ];
            app.http().get(app.url("/graphql")).query(&query)
        } else {
            app.http().post(app.url("/graphql")).json(&read)
        };
        tokio::spawn(request.send())
    };
    let mut held = vec![hold(false), hold(true)];
    let probe = json!({ "query": "{ __typename }" });
    let response = eventually(Duration::from_secs(15), "a request shed", async || {
        // A held read that was itself shed (a probe had taken its place) is sent again.
        for (i, request) in held.iter_mut().enumerate() {
            if request.is_finished() {
                *request = hold(i == 1);
            }
        }
        let response = app.http().post(app.url("/graphql")).json(&probe);
        let response = response.send().await.map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            503 => Ok(response),
            other => Err(format!("HTTP {other}")),
        }
    })
    .await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_refused(response, 503, "SERVICE_OVERLOADED").await;
    let ready = app.http().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "/readyz while overloaded");
    app.assert_unharmed((1, 1)).await;
    for request in held {
        request.abort();
    }
}

/// A read whose token never arrives, under a long consistency timeout: 504
/// `DEADLINE_EXCEEDED` at the request deadline.
async fn a_request_past_its_deadline_is_ended(backend: Backend) {
    let flags = [
        "--request-deadline-ms",
        "1000",
        "--consistency-timeout-ms",
        "60000",
        "--read-model",
        "database",
    ];
    let app = spawn_app_with(backend, &flags).await;
    let (_projector_held, read) = waiting_read(&app).await;
    let started = Instant::now();
    let request = app.http().post(app.url("/graphql")).json(&read);
    assert_refused(request.send().await.unwrap(), 504, "DEADLINE_EXCEEDED").await;
    assert!(started.elapsed() < Duration::from_secs(30), "ended late");
    app.assert_unharmed((1, 1)).await;
}

/// The request deadline ends requests, not WebSockets: a subscription outlives it and still
/// gets events.
async fn a_subscription_outlives_the_request_deadline(backend: Backend) {
    let app = spawn_app_with(backend, &["--request-deadline-ms", "300"]).await;
    let mut events = Subscription::user_events(app.address(), None, Protocol::TransportWs).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.create_user("Late", "late@example.com").await;
    let event = events
        .next(Duration::from_secs(15))
        .await
        .expect("an event");
    assert_eq!(event["name"], "Late", "{event}");
}

/// After SIGTERM the binary finishes what is in flight within `--shutdown-grace-ms`, then
/// closes what is left: a body held open does not keep it alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_body_does_not_hold_shutdown_past_its_grace() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut command = app.binary();
    command.args([
        "--shutdown-grace-ms",
        "3000",
        "--consistency-timeout-ms",
        "1000",
    ]);
    command.args([
        "--body-read-timeout-ms",
        "600000",
        "--request-deadline-ms",
        "600000",
    ]);
    let mut served = Served::start(command);
    let client = Client::new(&served.address);
    let (projector_held, read) = waiting_read(&app).await;
    let mut raw = Raw::connect(&served.address).await;
    let headers = ["Content-Type: application/json", "Content-Length: 1000"];
    raw.send(&head("POST", "/graphql", &headers)).await;
    raw.send(br#"{"query":"#).await;
    let request = client.http().post(client.url("/graphql")).json(&read);
    let in_flight = tokio::spawn(request.send());
    tokio::time::sleep(Duration::from_millis(300)).await;

    served.signal("-TERM");
    let answered = in_flight
        .await
        .unwrap()
        .expect("the read in flight is answered");
    assert_eq!(answered.status(), 200);
    // A follower's projector waiting on the held database would hold up the exit.
    projector_held.rollback().await.unwrap();
    let exit = served.exit(Duration::from_secs(3 + 10));
    assert!(exit.success(), "exit after SIGTERM: {exit}");
    raw.assert_closed(Duration::from_secs(5)).await;
}

both_engines!(
    load_past_the_in_flight_bound_is_shed,
    a_request_past_its_deadline_is_ended,
    a_subscription_outlives_the_request_deadline,
);

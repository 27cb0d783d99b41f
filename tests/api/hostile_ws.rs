//! Hostile WebSockets, from the attacker's side: each is closed with graphql-transport-ws's code
//! or refused with its `extensions.code`, writes nothing, and leaves the server answering; a
//! flood of subscriptions leaves the projector and other clients' reads alone. Only the flood
//! depends on the database; the protocol's limits run on SQLite alone.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::ws::{Protocol, Socket, USER_EVENTS};
use crate::helpers::{Backend, TestApp, assert_refused, both_engines, eventually, spawn_app_with};

/// A generous bound for anything the server should do at once (or after a short limit).
const WAIT: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp) -> Socket {
    Socket::connect(app.address(), Protocol::TransportWs).await
}

/// Closed with `code` within `WAIT`, nothing written, and the server still answering.
async fn assert_closed_with(app: &TestApp, socket: &mut Socket, code: u16, before: (usize, usize)) {
    assert_eq!(socket.closed(WAIT).await, Some(code), "close code");
    app.assert_unharmed(before).await;
}

/// A socket that never sends `connection_init` is closed with 4408 (default limit, 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_connection_init_is_closed_4408() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let mut idle = connect(&app).await;
    assert_closed_with(&app, &mut idle, 4408, (0, 0)).await;
}

/// `subscribe` before `connection_init` is closed with 4401, on both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_before_init_is_closed_4401() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    for protocol in [Protocol::TransportWs, Protocol::LegacyWs] {
        let mut socket = Socket::connect(app.address(), protocol).await;
        socket.subscribe("1", None).await;
        assert_closed_with(&app, &mut socket, 4401, (0, 0)).await;
    }
}

/// A second `subscribe` with the id of an open one is closed with 4409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_id_is_closed_4409() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let mut socket = connect(&app).await;
    socket.init().await;
    socket.subscribe("1", None).await;
    socket.subscribe("1", None).await;
    assert_closed_with(&app, &mut socket, 4409, (0, 0)).await;
}

/// A second `connection_init` is closed with 4429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_init_is_closed_4429() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let mut socket = connect(&app).await;
    socket.init().await;
    socket.send(json!({ "type": "connection_init" })).await;
    assert_closed_with(&app, &mut socket, 4429, (0, 0)).await;
}

/// What is not a protocol message (not JSON, an unknown type, a `subscribe` without an id)
/// is closed with 4400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_closed_4400() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let messages = [
        "{\"type\": \"connection_init\"".to_owned(),
        json!({ "type": "hello" }).to_string(),
        json!({ "type": "subscribe", "payload": { "query": USER_EVENTS } }).to_string(),
    ];
    for message in messages {
        let mut socket = connect(&app).await;
        socket.send_text(message).await;
        assert_closed_with(&app, &mut socket, 4400, (0, 0)).await;
    }
}

/// A message over the size limit (64 KiB by default) is closed with 1009, though it is a valid
/// `subscribe`: it is never buffered whole, let alone run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_closed_1009() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let mut socket = connect(&app).await;
    socket.init().await;
    let padding = "x".repeat(100 * 1024);
    let payload = json!({ "query": USER_EVENTS, "variables": { "padding": padding } });
    let message = json!({ "id": "1", "type": "subscribe", "payload": payload });
    socket.send(message).await;
    assert_closed_with(&app, &mut socket, 1009, (0, 0)).await;
}

/// Past the most operations per socket, `subscribe` is refused with an `error` message coded
/// TOO_MANY_SUBSCRIPTIONS; the others go on, and completing one makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_past_the_cap_are_refused() {
    let app = spawn_app_with(Backend::Sqlite, &["--ws-max-subscriptions", "2"]).await;
    app.create_user("Ada", "ada@example.com").await;
    let before = app.write_counts().await;
    for protocol in [Protocol::TransportWs, Protocol::LegacyWs] {
        let mut socket = Socket::connect(app.address(), protocol).await;
        socket.init().await;
        for id in ["1", "2"] {
            socket.subscribe(id, None).await;
            assert_eq!(replayed(&mut socket).await, id);
        }
        socket.subscribe("3", None).await;
        let refused = socket.receive(WAIT).await.expect("an answer to the third");
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["id"], "3");
        // graphql-transport-ws sends a list of errors, the legacy protocol one error.
        let error = match protocol {
            Protocol::TransportWs => &refused["payload"][0],
            Protocol::LegacyWs => &refused["payload"],
        };
        let code = &error["extensions"]["code"];
        assert_eq!(code, "TOO_MANY_SUBSCRIPTIONS", "{refused}");

        socket.complete("1").await;
        socket.subscribe("4", None).await;
        let mut ids = Vec::new();
        while ids.len() < 2 {
            let message = socket.receive(WAIT).await.expect("an answer");
            ids.extend(message["id"].as_str().map(str::to_owned));
        }
        let room = ids.contains(&"4".to_owned());
        assert!(room, "room again after a complete: {ids:?}");
    }
    app.assert_unharmed(before).await;
}

/// The id of the next replayed event, asserting it is one.
async fn replayed(socket: &mut Socket) -> String {
    let message = socket.receive(WAIT).await.expect("a replayed event");
    let event = &message["payload"]["data"]["userEvents"];
    assert!(event["position"].is_string(), "{message}");
    message["id"].as_str().unwrap().to_owned()
}

/// Past the most WebSockets per instance, an upgrade gets 503 SERVICE_OVERLOADED with
/// Retry-After; a closed socket frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_503() {
    let app = spawn_app_with(Backend::Sqlite, &["--ws-max-connections", "2"]).await;
    let mut first = connect(&app).await;
    first.init().await;
    let mut second = connect(&app).await;
    second.init().await;

    let response = upgrade(&app).await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_refused(response, 503, "SERVICE_OVERLOADED").await;

    drop(first);
    eventually(WAIT, "a place freed by a closed socket", async || {
        let status = upgrade(&app).await.status();
        (status == 101).then_some(()).ok_or(status)
    })
    .await;
    assert_eq!(
        second.closed(Duration::from_millis(300)).await,
        None,
        "the others stay"
    );
    app.assert_unharmed((0, 0)).await;
}

/// A WebSocket upgrade request as an attacker's script would send it.
async fn upgrade(app: &TestApp) -> reqwest::Response {
    let request = app.http().get(app.url("/graphql"));
    let headers = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-protocol", "graphql-transport-ws"),
    ];
    let request = headers.iter().fold(request, |r, (k, v)| r.header(*k, *v));
    request.send().await.expect("an answer to the upgrade")
}

/// A peer that stops answering pings is closed with 3008; one that reads stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_answering_pings_is_closed() {
    let flags = [
        "--ws-ping-interval-ms",
        "100",
        "--ws-pong-timeout-ms",
        "300",
    ];
    let app = spawn_app_with(Backend::Sqlite, &flags).await;
    let mut silent = connect(&app).await;
    silent.init().await;
    let mut alive = connect(&app).await;
    alive.init().await;
    // `alive` reads (and so answers pings) for two seconds; `silent` reads nothing meanwhile.
    assert_eq!(
        alive.closed(Duration::from_secs(2)).await,
        None,
        "a live peer stays"
    );
    assert_closed_with(&app, &mut silent, 3008, (0, 0)).await;
}

/// Three hundred subscriptions on one socket, each replaying a hundred events, while another
/// client writes and reads its write with the token: the projector records no failure and the
/// read is answered. Without replays' own pool they take the log's connections from the projector
/// (the read then times out at 5 s and the projector records a failure).
async fn a_flood_of_subscriptions_leaves_the_projector_alone(backend: Backend) {
    let app = spawn_app_with(backend, &["--ws-max-subscriptions", "300"]).await;
    let mut flood = flood(&app).await;

    let written = app.create_user("Other", "other@example.com").await;
    let read = app
        .user(&written.user.id, Some(&written.consistency_token))
        .await;
    assert!(
        read.is_ok(),
        "the other client's write is read back: {read}"
    );
    let status = app.projection_status().await;
    assert_eq!(status.last_error, None, "the projector recorded no failure");

    for _ in 0..600 {
        let Some(message) = flood.receive(Duration::from_secs(2)).await else {
            break;
        };
        assert_coded(&message);
    }
    assert_eq!(app.projection_status().await.last_error, None);
    app.assert_unharmed(app.write_counts().await).await;
}

/// With one replay connection and a wait of 20 ms, fifty subscriptions replaying a thousand
/// events each at once: those whose replay gets no connection in time fail alone, with a code,
/// while the others stream on the same socket, which stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_without_a_connection_fails_that_subscription_alone() {
    let flags = [
        "--subscription-replay-connections",
        "1",
        "--subscription-replay-wait-ms",
        "20",
    ];
    let app = spawn_app_with(Backend::Sqlite, &flags).await;
    history(&app, 1000).await;
    let before = app.write_counts().await;
    let mut socket = connect(&app).await;
    socket.init().await;
    for id in 0..50 {
        socket.subscribe(&id.to_string(), None).await;
    }
    let (mut failed, mut streamed) = (None, false);
    while failed.is_none() || !streamed {
        let message = socket.receive(WAIT).await.expect("more answers");
        assert_coded(&message);
        if let Some(error) = message["payload"]["errors"].get(0) {
            failed = Some(error.clone());
        }
        streamed |= message["payload"]["data"]["userEvents"].is_object();
    }
    let error = failed.unwrap();
    assert_eq!(
        error["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{error}"
    );
    assert!(error["extensions"]["errorId"].is_string(), "{error}");
    assert_eq!(
        socket.closed(Duration::from_millis(300)).await,
        None,
        "the socket stays"
    );
    assert_eq!(app.projection_status().await.last_error, None);
    app.assert_unharmed(before).await;
}

/// `users` users, created 25 at a time: a replay from the start sends that many events.
async fn history(app: &TestApp, users: usize) {
    for chunk in 0..users / 25 {
        join_all((0..25).map(|i| {
            let n = chunk * 25 + i;
            async move {
                app.create_user(&format!("U{n}"), &format!("u{n}@example.com"))
                    .await
            }
        }))
        .await;
    }
}

/// A socket with three hundred subscriptions replaying a hundred events each, that reads
/// nothing: its buffers fill, the server's sends to it wait, and a replay stalled between its
/// read and its send holds its connection, so the others stay queued for connections.
async fn flood(app: &TestApp) -> Socket {
    // A hundred events each: more than the socket's buffers hold once a few hundred replay.
    history(app, 100).await;
    let mut flood = connect(app).await;
    flood.init().await;
    for id in 0..300 {
        flood.subscribe(&id.to_string(), None).await;
    }
    // Time for the server to fill the socket and wait (not a bound on anything).
    tokio::time::sleep(Duration::from_secs(2)).await;
    flood
}

/// Every error in a message carries `extensions.code`.
fn assert_coded(message: &Value) {
    let errors = match message["type"].as_str() {
        Some("error") => message["payload"].clone(),
        _ => message["payload"]["errors"].clone(),
    };
    for error in errors.as_array().into_iter().flatten() {
        assert!(error["extensions"]["code"].is_string(), "{message}");
    }
}

both_engines!(a_flood_of_subscriptions_leaves_the_projector_alone);

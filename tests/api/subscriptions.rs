//! Subscription.userEvents over WebSocket: replay then live without gap or duplicate, the same
//! sequence for every subscriber, slow subscribers that stall nobody, both protocols, and a
//! well-behaved client the limits leave alone.

use std::sync::Arc;
use std::time::Duration;

use cqrs_users::domain::{Identity, LogPosition};
use cqrs_users::events::RecordedEvent;
use cqrs_users::signals::Wakeup;
use cqrs_users::subscriptions::{Admission, LiveEvents};
use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::ws::{Protocol, Socket, Subscription};
use crate::helpers::{Backend, both_engines, spawn_app};

const WAIT: Duration = Duration::from_secs(10);

fn positions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["position"].as_str().unwrap().to_owned())
        .collect()
}

/// From a position: the log after it is replayed, then new events arrive live, in order.
async fn replays_after_a_position_then_streams_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_user("Ada", "ada@example.com").await;
    let second = app.create_user("Bob", "bob@example.com").await;
    app.update_user_name(&second.user.id, "Robert", None)
        .await
        .ok();

    let after = Some(first.consistency_token.as_str());
    let mut subscription =
        Subscription::user_events(app.address(), after, Protocol::TransportWs).await;
    let replayed = subscription.take(2, WAIT).await;
    assert_eq!(replayed[0]["__typename"], "UserCreated");
    assert_eq!(replayed[0]["name"], "Bob");
    assert_eq!(replayed[0]["position"], second.consistency_token.as_str());
    assert_eq!(replayed[1]["__typename"], "UserRenamed");
    assert_eq!(replayed[1]["previousName"], "Bob");
    assert_eq!(replayed[1]["newName"], "Robert");

    let third = app.create_user("Cy", "cy@example.com").await;
    let live = subscription.take(1, WAIT).await;
    assert_eq!(live[0]["userId"], third.user.id.as_str());
    assert_eq!(live[0]["position"], third.consistency_token.as_str());
    let more = subscription.next(Duration::from_millis(300)).await;
    assert!(more.is_none(), "nothing more");
}

/// Without afterPosition the stream starts at the beginning of the log; the legacy protocol
/// works too.
async fn replays_everything_over_the_legacy_protocol(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let mut subscription = Subscription::user_events(app.address(), None, Protocol::LegacyWs).await;
    let events = subscription.take(1, WAIT).await;
    assert_eq!(events[0]["userId"], created.user.id.as_str());
    assert_eq!(events[0]["email"], "ada@example.com");
}

/// A malformed afterPosition is refused with BAD_USER_INPUT.
async fn refuses_a_bad_after_position(backend: Backend) {
    let app = spawn_app(backend).await;
    let after = Some("not-a-position");
    let mut subscription =
        Subscription::user_events(app.address(), after, Protocol::TransportWs).await;
    let message = subscription.next(WAIT).await.expect("an answer");
    let errors = match message["type"].as_str() {
        Some("error") => message["payload"].clone(),
        _ => message["payload"]["errors"].clone(),
    };
    let code = &errors[0]["extensions"]["code"];
    assert_eq!(code, "BAD_USER_INPUT", "{message}");
}

/// Two subscribers from the same position, while writes go on, see the same sequence: the
/// log's own order, with no gap and no duplicate where replay turns into live.
async fn subscribers_see_the_same_sequence_during_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let start = app.create_user("Start", "start@example.com").await;
    let after = start.consistency_token;
    for i in 0..5 {
        app.create_user(&format!("Before {i}"), &format!("before{i}@example.com"))
            .await;
    }
    let writes = async {
        join_all((0..30).map(|i| {
            let app = &app;
            async move {
                app.create_user(&format!("During {i}"), &format!("during{i}@example.com"))
                    .await
            }
        }))
        .await
    };
    let subscribe = async {
        let address = app.address();
        let a = Subscription::user_events(address, Some(&after), Protocol::TransportWs).await;
        let b = Subscription::user_events(address, Some(&after), Protocol::LegacyWs).await;
        (a, b)
    };
    let (_, (mut a, mut b)) = tokio::join!(writes, subscribe);
    let (a, b) = tokio::join!(a.take(35, WAIT), b.take(35, WAIT));
    assert_eq!(positions(&a), positions(&b));
    let mut sorted = positions(&a);
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, positions(&a), "positions strictly increase");
    assert!(sorted.iter().all(|p| p.as_str() > after.as_str()));
}

/// A subscriber that stops reading does not hold up another one.
async fn a_stalled_subscriber_does_not_stall_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let address = app.address();
    let _stalled = Subscription::user_events(address, None, Protocol::TransportWs).await;
    let mut reader = Subscription::user_events(address, None, Protocol::TransportWs).await;
    for i in 0..40 {
        app.create_user(&format!("U{i}"), &format!("u{i}@example.com"))
            .await;
    }
    assert_eq!(reader.take(40, WAIT).await.len(), 40);
}

/// A stream that falls further behind than the live buffer catches up from the log: it still
/// yields every event, in order, exactly once.
async fn a_lagging_stream_catches_up_from_the_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let stop = CancellationToken::new();
    let db = app.write_db.clone();
    let admission = Admission::new(app.config.ws_limits);
    let live = LiveEvents::new(db.clone(), db, 4, admission, stop.clone());
    let wake = Wakeup::default();
    let poll = Duration::from_secs(1);
    let tail = live
        .clone()
        .tail(wake.clone(), LogPosition::START, poll, stop.clone());
    let tail = tokio::spawn(tail);
    let stream = live.after(&Identity::Developer, LogPosition::START);
    let mut stream = Box::pin(stream.expect("a developer may read"));
    let mut next = async || {
        let event = tokio::time::timeout(WAIT, stream.next()).await;
        event.expect("more events").unwrap().unwrap()
    };

    let first = app.create_user("First", "first@example.com").await;
    wake.wake();
    let event = next().await;
    assert_eq!(event.position.to_string(), first.consistency_token);

    // Forty events while nobody polls the stream: ten times the buffer.
    for i in 0..40 {
        app.create_user(&format!("U{i}"), &format!("u{i}@example.com"))
            .await;
        wake.wake();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen: Vec<Arc<RecordedEvent>> = Vec::new();
    while seen.len() < 40 {
        seen.push(next().await);
    }
    let in_order = seen.windows(2).all(|w| w[0].position < w[1].position);
    assert!(in_order, "in order, no duplicate");
    assert!(seen[0].position > event.position);
    stop.cancel();
    tail.await.unwrap();
}

/// A graceful shutdown completes open subscriptions instead of waiting on them.
async fn shutdown_completes_open_subscriptions(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut subscription =
        Subscription::user_events(app.address(), None, Protocol::TransportWs).await;
    app.create_user("Ada", "ada@example.com").await;
    subscription.take(1, WAIT).await;
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.stop()).await;
    stopped.expect("shutdown is not held up");
    match subscription.receive(Duration::from_secs(5)).await {
        None => {}
        Some(message) => assert_eq!(message["type"], "complete", "{message}"),
    }
}

/// The limits are not in the way of a client such as Apollo's `GraphQLWsLink`: `ping` before
/// and after `connection_init` is answered with `pong`, and after a `complete` the same id may
/// subscribe again.
async fn a_client_like_apollos_is_not_in_the_way(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("Ada", "ada@example.com").await;
    let mut socket = Socket::connect(app.address(), Protocol::TransportWs).await;
    let pong = async |socket: &mut Socket| {
        socket.send(json!({ "type": "ping" })).await;
        let pong = socket.receive_any(WAIT).await.expect("an answer to ping");
        assert_eq!(pong["type"], "pong", "{pong}");
    };
    pong(&mut socket).await;
    socket.init().await;
    pong(&mut socket).await;
    for _ in 0..2 {
        socket.subscribe("1", None).await;
        let event = socket.receive(WAIT).await.expect("the replayed event");
        assert_eq!(event["payload"]["data"]["userEvents"]["name"], "Ada");
        socket.complete("1").await;
        let complete = socket.receive(WAIT).await.expect("complete");
        assert_eq!(complete["type"], "complete", "{complete}");
    }
}

both_engines!(
    replays_after_a_position_then_streams_live,
    replays_everything_over_the_legacy_protocol,
    refuses_a_bad_after_position,
    subscribers_see_the_same_sequence_during_writes,
    a_stalled_subscriber_does_not_stall_others,
    a_lagging_stream_catches_up_from_the_log,
    shutdown_completes_open_subscriptions,
    a_client_like_apollos_is_not_in_the_way,
);

//! Subscription.userEvents over WebSocket: replay then live without gap or duplicate, the same
//! sequence for every subscriber, slow subscribers that stall nobody, both protocols.

use std::sync::Arc;
use std::time::Duration;

use cqrs_users::domain::LogPosition;
use cqrs_users::subscriptions::LiveEvents;
use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::each_backend;
use crate::helpers::{UPDATE_USER_NAME, assert_no_errors};
use crate::ws::{Protocol, Subscription};

const WAIT: Duration = Duration::from_secs(10);

fn positions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["position"].as_str().unwrap().to_owned())
        .collect()
}

each_backend! {
    /// From a position: the log after it is replayed, then new events arrive live, in order.
    async fn replays_after_a_position_then_streams_live(app) {
        let first = app.create_user("Ada", "ada@example.com").await;
        let second = app.create_user("Bob", "bob@example.com").await;
        let body = app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": second["user"]["id"], "name": "Robert" } })).await;
        assert_no_errors(&body);

        let mut subscription = Subscription::user_events(&app.address, first["consistencyToken"].as_str(), Protocol::TransportWs).await;
        let replayed = subscription.take(2, WAIT).await;
        assert_eq!(replayed[0]["__typename"], "UserCreated");
        assert_eq!(replayed[0]["name"], "Bob");
        assert_eq!(replayed[0]["position"], second["consistencyToken"]);
        assert_eq!(replayed[1]["__typename"], "UserRenamed");
        assert_eq!(replayed[1]["previousName"], "Bob");
        assert_eq!(replayed[1]["newName"], "Robert");

        let third = app.create_user("Cy", "cy@example.com").await;
        let live = subscription.take(1, WAIT).await;
        assert_eq!(live[0]["userId"], third["user"]["id"]);
        assert_eq!(live[0]["position"], third["consistencyToken"]);
        assert!(subscription.next(Duration::from_millis(300)).await.is_none(), "nothing more");
    }
}

each_backend! {
    /// Without afterPosition the stream starts at the beginning of the log; the legacy protocol works too.
    async fn replays_everything_over_the_legacy_protocol(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let mut subscription = Subscription::user_events(&app.address, None, Protocol::LegacyWs).await;
        let events = subscription.take(1, WAIT).await;
        assert_eq!(events[0]["userId"], created["user"]["id"]);
        assert_eq!(events[0]["email"], "ada@example.com");
    }
}

each_backend! {
    /// A malformed afterPosition is refused with BAD_USER_INPUT.
    async fn refuses_a_bad_after_position(app) {
        let mut subscription = Subscription::user_events(&app.address, Some("not-a-position"), Protocol::TransportWs).await;
        let message = subscription.next(WAIT).await.expect("an answer");
        let errors = match message["type"].as_str() {
            Some("error") => message["payload"].clone(),
            _ => message["payload"]["errors"].clone(),
        };
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{message}");
    }
}

each_backend! {
    /// Two subscribers from the same position, while writes go on, see the same sequence: the
    /// log's own order, with no gap and no duplicate where replay turns into live.
    async fn subscribers_see_the_same_sequence_during_writes(app) {
        let start = app.create_user("Start", "start@example.com").await;
        let after = start["consistencyToken"].as_str().unwrap().to_owned();
        for i in 0..5 {
            app.create_user(&format!("Before {i}"), &format!("before{i}@example.com")).await;
        }
        let writes = async {
            join_all((0..30).map(|i| {
                let app = &app;
                async move { app.create_user(&format!("During {i}"), &format!("during{i}@example.com")).await }
            }))
            .await
        };
        let subscribe = async {
            let a = Subscription::user_events(&app.address, Some(&after), Protocol::TransportWs).await;
            let b = Subscription::user_events(&app.address, Some(&after), Protocol::LegacyWs).await;
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
}

each_backend! {
    /// A subscriber that stops reading does not hold up another one.
    async fn a_stalled_subscriber_does_not_stall_others(app) {
        let _stalled = Subscription::user_events(&app.address, None, Protocol::TransportWs).await;
        let mut reader = Subscription::user_events(&app.address, None, Protocol::TransportWs).await;
        for i in 0..40 {
            app.create_user(&format!("U{i}"), &format!("u{i}@example.com")).await;
        }
        assert_eq!(reader.take(40, WAIT).await.len(), 40);
    }
}

each_backend! {
    /// A stream that falls further behind than the live buffer catches up from the log: it still
    /// yields every event, in order, exactly once.
    async fn a_lagging_stream_catches_up_from_the_log(app) {
        let stop = CancellationToken::new();
        let live = LiveEvents::new(app.write_db.clone(), 4, stop.clone());
        let wake = cqrs_users::signals::Wakeup::default();
        let tail = tokio::spawn(live.clone().tail(wake.clone(), LogPosition::START, Duration::from_secs(1), stop.clone()));
        let mut stream = Box::pin(live.after(LogPosition::START));

        let first = app.create_user("First", "first@example.com").await;
        wake.wake();
        let event = tokio::time::timeout(WAIT, stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(event.position.to_string(), first["consistencyToken"].as_str().unwrap());

        // Forty events while nobody polls the stream: ten times the buffer.
        for i in 0..40 {
            app.create_user(&format!("U{i}"), &format!("u{i}@example.com")).await;
            wake.wake();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut seen: Vec<Arc<cqrs_users::events::RecordedEvent>> = Vec::new();
        while seen.len() < 40 {
            let event = tokio::time::timeout(WAIT, stream.next()).await.expect("more events").unwrap().unwrap();
            seen.push(event);
        }
        assert!(seen.windows(2).all(|w| w[0].position < w[1].position), "in order, no duplicate");
        assert!(seen[0].position > event.position);
        stop.cancel();
        tail.await.unwrap();
    }
}

each_backend! {
    /// A graceful shutdown completes open subscriptions instead of waiting on them.
    async fn shutdown_completes_open_subscriptions(mut app) {
        let mut subscription = Subscription::user_events(&app.address, None, Protocol::TransportWs).await;
        app.create_user("Ada", "ada@example.com").await;
        subscription.take(1, WAIT).await;
        tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("shutdown is not held up");
        match subscription.receive(Duration::from_secs(5)).await {
            None => {}
            Some(message) => assert_eq!(message["type"], "complete", "{message}"),
        }
    }
}

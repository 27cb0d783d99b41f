//! `/metrics` scraped after real traffic and read with a Prometheus text parser: the counters
//! moved for what clients did, histograms have buckets, the projection's gauges agree with the
//! log, the pools and live connections are there; labels stay bounded.

use std::time::Duration;

use serde_json::json;

use crate::helpers::ws::Protocol;
use crate::helpers::ws::Subscription;
use crate::helpers::{
    Backend, Scraped, both_engines, error_code, eventually, spawn_app, spawn_app_with,
};

const WAIT: Duration = Duration::from_secs(10);

/// Two creates, one refused as taken, one read: each is counted by route, operation and message,
/// with its latency; once the projector has caught up its gauges say so.
async fn counters_histograms_and_gauges_follow_the_traffic(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.create_user("Ada", "ada@example.com").await;
    app.create_user("Bob", "bob@example.com").await;
    let taken = app.try_create_user("Ada Again", "ada@example.com").await;
    assert_eq!(taken.code(), "CONFLICT");
    let token = Some(ada.consistency_token.as_str());
    app.user(&ada.user.id, token).await.ok();
    app.converge(WAIT).await;

    let scraped = Scraped::get(app.http(), &app.metrics_url()).await;
    let posts = [("method", "POST"), ("route", "/graphql"), ("status", "200")];
    assert_eq!(scraped.value("cqrs_http_requests_total", &posts), Some(4.0));
    let post_latency = scraped.buckets("cqrs_http_request_duration_seconds", &posts);
    assert_eq!(
        post_latency.last().map(|b| b.count),
        Some(4.0),
        "+Inf bucket"
    );

    let created = [
        ("operation", "CreateUser"),
        ("type", "mutation"),
        ("outcome", "ok"),
    ];
    assert_eq!(
        scraped.value("cqrs_graphql_operations_total", &created),
        Some(2.0)
    );
    let conflict = [("operation", "CreateUser"), ("outcome", "CONFLICT")];
    assert_eq!(
        scraped.value("cqrs_graphql_operations_total", &conflict),
        Some(1.0)
    );
    let read = [
        ("operation", "GetUser"),
        ("type", "query"),
        ("outcome", "ok"),
    ];
    assert_eq!(
        scraped.value("cqrs_graphql_operations_total", &read),
        Some(1.0)
    );
    let latency = scraped.buckets("cqrs_graphql_operation_duration_seconds", &created);
    assert!(latency.len() > 5, "buckets: {latency:?}");
    assert!(
        latency
            .windows(2)
            .all(|w| w[0].count <= w[1].count && w[0].less_than < w[1].less_than)
    );
    assert_eq!(
        latency.last().map(|b| (b.less_than, b.count)),
        Some((f64::INFINITY, 2.0))
    );

    let dispatched = |kind, message, outcome| {
        let labels = [("kind", kind), ("message", message), ("outcome", outcome)];
        scraped.value("cqrs_dispatches_total", &labels)
    };
    assert_eq!(dispatched("command", "CreateUser", "ok"), Some(2.0));
    assert_eq!(dispatched("command", "CreateUser", "conflict"), Some(1.0));
    assert_eq!(dispatched("query", "GetUserById", "ok"), Some(1.0));
    let handled = [
        ("kind", "command"),
        ("message", "CreateUser"),
        ("outcome", "ok"),
    ];
    let handling = scraped.buckets("cqrs_dispatch_duration_seconds", &handled);
    assert_eq!(handling.last().map(|b| b.count), Some(2.0));

    // The projection: caught up with the log's last event.
    let log = app.log().await;
    let last = log.last().expect("two events").position as f64;
    let projection = [("projection", "users_view")];
    let gauge = |name| scraped.value(name, &projection);
    assert_eq!(gauge("cqrs_projection_checkpoint_position"), Some(last));
    assert_eq!(gauge("cqrs_projection_log_head_position"), Some(last));
    assert_eq!(gauge("cqrs_projection_lag_events"), Some(0.0));
    assert_eq!(gauge("cqrs_projection_lag_seconds"), Some(0.0));
    assert_eq!(
        scraped.value("cqrs_projector_events_applied_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        scraped.value("cqrs_projector_batch_events_sum", &[]),
        Some(2.0)
    );
    assert_eq!(scraped.value("cqrs_projector_leading", &[]), Some(1.0));
    assert_eq!(
        scraped.value("cqrs_projector_failures_total", &[]),
        Some(0.0)
    );

    // Every pool is there, with its size.
    for pool in ["write", "log", "replay"] {
        for state in ["in_use", "idle"] {
            let labels = [("pool", pool), ("state", state)];
            let connections = scraped.value("cqrs_db_pool_connections", &labels);
            assert!(connections.is_some_and(|c| c >= 0.0), "{pool} {state}");
        }
    }
    let log_pool = scraped.value("cqrs_db_pool_max_connections", &[("pool", "log")]);
    assert_eq!(log_pool, Some(4.0));
    assert_eq!(scraped.value("cqrs_websockets_open", &[]), Some(0.0));
    assert_eq!(scraped.value("cqrs_subscriptions_open", &[]), Some(0.0));
}

/// A subscriber is counted while it is connected, and no longer once it leaves.
async fn open_websockets_and_subscriptions_are_gauged(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut subscription =
        Subscription::user_events(app.address(), None, Protocol::TransportWs).await;
    app.create_user("Ada", "ada@example.com").await;
    subscription.take(1, WAIT).await;
    let scraped = Scraped::get(app.http(), &app.metrics_url()).await;
    assert_eq!(scraped.value("cqrs_websockets_open", &[]), Some(1.0));
    assert_eq!(scraped.value("cqrs_subscriptions_open", &[]), Some(1.0));
    let upgraded = [("route", "/graphql"), ("method", "GET"), ("status", "101")];
    assert_eq!(
        scraped.value("cqrs_http_requests_total", &upgraded),
        Some(1.0)
    );

    drop(subscription);
    eventually(WAIT, "the gauges to drop to 0", async || {
        let scraped = Scraped::get(app.http(), &app.metrics_url()).await;
        let open = ["cqrs_websockets_open", "cqrs_subscriptions_open"]
            .map(|name| scraped.value(name, &[]));
        match open {
            [Some(0.0), Some(0.0)] => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// With `--metrics-listen`, `/metrics` is on that address only: the main one answers 404 (and
/// counts it as no route, whatever path was asked).
async fn metrics_can_be_served_on_their_own_address(backend: Backend) {
    let app = spawn_app_with(backend, &["--metrics-listen", "127.0.0.1:0"]).await;
    assert_ne!(app.metrics_url(), app.url("/metrics"));
    let main = app.http().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404);
    let probe = app
        .http()
        .get(app.url("/no/such/path/1234"))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 404);

    let scraped = Scraped::get(app.http(), &app.metrics_url()).await;
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(
        scraped.value("cqrs_http_requests_total", &unmatched),
        Some(2.0)
    );
    let routes = scraped.label_values("cqrs_http_requests_total", "route");
    assert_eq!(routes, ["unmatched"], "no raw path becomes a label");
}

/// Operation names are labels up to a bound: past it they count as `other`, and errors are
/// counted by code whatever the name.
async fn operation_names_are_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    let max = cqrs_users::telemetry::MAX_OPERATION_NAMES;
    let names: Vec<String> = (0..max + 20).map(|i| format!("Probe{i}")).collect();
    for chunk in names.chunks(30) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|name| json!({ "query": format!("query {name} {{ __typename }}") }))
            .collect();
        let response = app
            .http()
            .post(app.url("/graphql"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let broken = app.graphql("query Broken { nope }", json!({})).await;
    assert_eq!(error_code(&broken), "GRAPHQL_VALIDATION_FAILED");

    let scraped = Scraped::get(app.http(), &app.metrics_url()).await;
    let operations = scraped.label_values("cqrs_graphql_operations_total", "operation");
    assert_eq!(operations.len(), max + 1, "{operations:?}");
    assert!(operations.contains(&"other".to_owned()));
    let queries = scraped.sum(
        "cqrs_graphql_operations_total",
        &[("type", "query"), ("outcome", "ok")],
    );
    assert_eq!(queries, (max + 20) as f64);
    let other = [
        ("operation", "other"),
        ("outcome", "GRAPHQL_VALIDATION_FAILED"),
    ];
    assert_eq!(
        scraped.value("cqrs_graphql_operations_total", &other),
        Some(1.0)
    );
}

both_engines!(
    counters_histograms_and_gauges_follow_the_traffic,
    open_websockets_and_subscriptions_are_gauged,
    metrics_can_be_served_on_their_own_address,
    operation_names_are_bounded,
);

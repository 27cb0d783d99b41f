//! Several instances on one PostgreSQL: one projector at a time, takeover when it dies, live
//! events and consistency tokens that work across instances.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, CREATE_USER, USER, assert_no_errors, spawn_app_with};
use crate::ws::{Protocol, Subscription};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_projector_takeover_and_cross_instance_reads() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped (several instances need PostgreSQL)");
        return;
    };
    // The tails' safety-net poll is set far beyond the waits below: B hears of A's writes
    // through NOTIFY or not at all.
    let mut app = spawn_app_with(
        backend,
        &["--projector-lease-ms", "1000", "--log-poll-ms", "600000"],
    )
    .await;
    let b = app.start_instance().await;

    // A command sent to A is seen live by a subscriber on B, and readable on B with A's token.
    let mut on_b = Subscription::user_events(&b.address, None, Protocol::TransportWs).await;
    // An event written on B itself first: once it has arrived, the subscription is past its
    // replay, so what follows can only come live through B's tail.
    let on_b_itself = app
        .graphql_at(
            &b.address,
            CREATE_USER,
            json!({ "input": { "name": "Local", "email": "local@example.com" } }),
        )
        .await;
    assert_no_errors(&on_b_itself);
    on_b.take(1, Duration::from_secs(10)).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let event = on_b.take(1, Duration::from_secs(10)).await;
    assert_eq!(event[0]["userId"], created["user"]["id"]);
    let body = app
        .graphql_at(
            &b.address,
            USER,
            json!({ "id": created["user"]["id"], "consistencyToken": created["consistencyToken"] }),
        )
        .await;
    assert_eq!(body["data"]["user"]["name"], "Ada", "{body:#}");

    // Exactly one of the two holds the lease.
    let leader = app.lease_holder().await.expect("a projector leads");
    let a_id = app.instance_id().to_owned();
    assert!(
        leader == a_id || leader == b.instance_id,
        "{leader} is neither instance"
    );

    // Kill the leader; the other takes over within seconds and projects what comes next.
    let mut b = Some(b);
    let (survivor_address, survivor_id) = if leader == a_id {
        app.kill().await;
        let b = b.as_ref().unwrap();
        (b.address.clone(), b.instance_id.clone())
    } else {
        b.take().unwrap().kill().await;
        (app.address.clone(), a_id)
    };
    let started = Instant::now();
    while app.lease_holder().await.as_deref() != Some(survivor_id.as_str()) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no takeover after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("takeover after {:?}", started.elapsed());
    let body = app
        .graphql_at(
            &survivor_address,
            CREATE_USER,
            json!({ "input": { "name": "Bob", "email": "bob@example.com" } }),
        )
        .await;
    assert_no_errors(&body);
    let payload = &body["data"]["createUser"];
    let body = app
        .graphql_at(
            &survivor_address,
            USER,
            json!({ "id": payload["user"]["id"], "consistencyToken": payload["consistencyToken"] }),
        )
        .await;
    assert_eq!(body["data"]["user"]["name"], "Bob", "{body:#}");
    app.converge(Duration::from_secs(10)).await;
}

//! Several instances on one PostgreSQL: one projector at a time, takeover when it dies, live
//! events and consistency tokens that work across instances.

use std::time::{Duration, Instant};

use crate::helpers::ws::{Protocol, Subscription};
use crate::helpers::{Backend, eventually, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_projector_takeover_and_cross_instance_reads() {
    let Some(backend) = Backend::postgres_only("several instances need PostgreSQL") else {
        return;
    };
    // The tails' safety-net poll is set far beyond the waits below: B hears of A's writes
    // through NOTIFY or not at all.
    let flags = ["--projector-lease-ms", "1000", "--log-poll-ms", "600000"];
    let mut app = spawn_app_with(backend, &flags).await;
    let b = app.start_instance().await;

    // A command sent to A is seen live by a subscriber on B, and readable on B with A's token.
    let mut on_b = Subscription::user_events(b.address(), None, Protocol::TransportWs).await;
    // An event written on B itself first: once it has arrived, the subscription is past its
    // replay, so what follows can only come live through B's tail.
    b.create_user("Local", "local@example.com").await;
    on_b.take(1, Duration::from_secs(10)).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let event = on_b.take(1, Duration::from_secs(10)).await;
    assert_eq!(event[0]["userId"], created.user.id.as_str());
    let token = Some(created.consistency_token.as_str());
    assert_eq!(b.user(&created.user.id, token).await.ok().name, "Ada");

    // Exactly one of the two holds the lease.
    let leader = app.lease_holder().await.expect("a projector leads");
    let a_id = app.instance_id().to_owned();
    assert!(
        leader == a_id || leader == b.instance_id,
        "{leader} is neither instance"
    );

    // Kill the leader; the other takes over within seconds and projects what comes next.
    let (survivor, survivor_id) = if leader == a_id {
        app.kill().await;
        (b.client().clone(), b.instance_id.clone())
    } else {
        b.kill().await;
        (app.client().clone(), a_id)
    };
    let started = Instant::now();
    eventually(Duration::from_secs(15), "a takeover", async || {
        let holder = app.lease_holder().await;
        let taken = holder.as_deref() == Some(survivor_id.as_str());
        if taken {
            Ok(())
        } else {
            Err(format!("held by {holder:?}"))
        }
    })
    .await;
    eprintln!("takeover after {:?}", started.elapsed());
    let created = survivor.create_user("Bob", "bob@example.com").await;
    let token = Some(created.consistency_token.as_str());
    let user = survivor.user(&created.user.id, token).await.ok();
    assert_eq!(user.name, "Bob");
    app.converge(Duration::from_secs(10)).await;
}

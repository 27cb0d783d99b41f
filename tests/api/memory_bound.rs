//! The in-memory read model past its bound: it holds at most that many users, the hottest, and
//! reads the others through `users_view`, still right; after a gap it reloads without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use cqrs_users::domain::{LogPosition, UserId};
use cqrs_users::events::{RecordedEvent, UserEvent};
use cqrs_users::projections::{self, MemoryModel, MemoryStatus};
use futures::StreamExt as _;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Backend, TestApp, both_engines, eventually, spawn_app, spawn_app_with};

/// With room for 3 users and 12 created, the model holds at most 3, answers every point read
/// (reading through to `users_view` those it does not hold) and every page from `users_view`,
/// and follows renames of the users it caches: never an older name.
async fn past_its_bound_it_keeps_the_hottest_users_and_reads_the_rest_through(backend: Backend) {
    let app = spawn_app_with(backend, &["--read-model-max-users", "3"]).await;
    let memory = app.memory();
    let mut created = Vec::new();
    for i in 0..12 {
        created.push(
            app.create_user(&format!("U{i}"), &format!("u{i}@example.com"))
                .await,
        );
        assert!(memory.held() <= 3, "{} users held", memory.held());
    }
    let token = created[11].consistency_token.as_str();
    for (i, one) in created.iter().enumerate() {
        let user = app.user(&one.user.id, Some(token)).await.ok();
        assert_eq!(user.email, format!("u{i}@example.com"));
        assert!(memory.held() <= 3, "{} users held", memory.held());
    }
    let page = app.users(2, 2, Some(token)).await.ok();
    assert_eq!(page.total_count, 12);
    let ids: Vec<_> = page.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        ids,
        [created[2].user.id.as_str(), created[3].user.id.as_str()]
    );
    assert!(memory.is_usable() && !memory.holds_every_user());
    // Renames of a user read again and again: each read sees its own write, from memory or
    // read through, and the model never answers a name older than one it answered.
    let hot = &created[0].user.id;
    for round in 0..6 {
        let name = format!("Renamed {round}");
        let renamed = app.update_user_name(hot, &name, None).await.ok();
        let token = renamed.consistency_token.as_str();
        assert_eq!(app.user(hot, Some(token)).await.ok().name, name);
    }
    // Read through again and again, it ends up cached, with its last name.
    let id = UserId::from(hot.parse::<uuid::Uuid>().unwrap());
    eventually(
        Duration::from_secs(20),
        "the renamed user in the hot set",
        async || {
            app.user(hot, None).await.ok();
            match memory.user(id) {
                Some(Some(held)) if held.name == "Renamed 5" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(memory.held() <= 3, "{} users held", memory.held());
    let logs = app.logs();
    assert!(logs.contains("past --read-model-max-users"), "{logs}");
    assert!(!logs.contains("unusable"), "{logs}");
}

/// Many concurrent creates past a bound of 5: the model never holds more than 5 users.
async fn its_bound_holds_under_many_creates(backend: Backend) {
    let app = spawn_app_with(backend, &["--read-model-max-users", "5"]).await;
    let memory = app.memory().clone();
    let done = Arc::new(AtomicBool::new(false));
    let most = tokio::spawn({
        let done = done.clone();
        async move {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                most = most.max(memory.held());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            most
        }
    });
    for batch in 0..10 {
        join_all((0..10).map(|i| {
            let (name, email) = (format!("B{batch} {i}"), format!("b{batch}x{i}@example.com"));
            let app = &app;
            async move { app.create_user(&name, &email).await }
        }))
        .await;
    }
    let last = app.create_user("Last", "last@example.com").await;
    let token = Some(last.consistency_token.as_str());
    app.user(&last.user.id, token).await.ok();
    done.store(true, Ordering::Relaxed);
    let most = most.await.unwrap();
    assert!((1..=5).contains(&most), "{most} users held at most");
    assert!(app.memory().is_usable());
    assert_eq!(app.users(1, 1, token).await.ok().total_count, 101);
}

/// A rename of `user` at a version it cannot be at yet, right after `after`.
fn a_gap_after(after: LogPosition, user: UserId) -> Arc<RecordedEvent> {
    Arc::new(RecordedEvent {
        position: LogPosition::new(after.tx_id, after.seq + 1),
        user_id: user,
        version: 3,
        occurred_at: Utc::now(),
        event: UserEvent::UserRenamed {
            previous_name: String::new(),
            new_name: "Never".to_owned(),
        },
        actor: None,
        correlation_id: None,
    })
}

/// A model following a feed that yields a gap on its first `gaps` calls, then nothing: it
/// reloads from `users_view` after each gap. Returns the model, how many feeds it asked for, and
/// the token that stops it.
fn follow_gaps(app: &TestApp, at: LogPosition, user: UserId, gaps: usize) -> FollowedGaps {
    let model = MemoryModel::new(100);
    let (calls, stop) = (Arc::new(AtomicUsize::new(0)), CancellationToken::new());
    let feed = {
        let calls = calls.clone();
        move |_after: LogPosition| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let gap = (call < gaps).then(|| Ok(a_gap_after(at, user)));
            futures::stream::iter(gap)
                .chain(futures::stream::pending())
                .boxed()
        }
    };
    tokio::spawn(
        model
            .clone()
            .follow(app.read_db.clone(), feed, stop.clone()),
    );
    FollowedGaps { model, calls, stop }
}

struct FollowedGaps {
    model: MemoryModel,
    calls: Arc<AtomicUsize>,
    stop: CancellationToken,
}

/// After a gap the model drops its users and reloads them from `users_view`, and answers again
/// without a restart; a gap that comes back at the same event after every reload makes it give
/// up after a bounded number of reloads.
async fn after_a_gap_it_reloads_and_answers_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_and_read("Gap", "gap@example.com").await;
    app.converge(Duration::from_secs(20)).await;
    let at = projections::load_checkpoint(&app.read_db).await.unwrap();
    let id = UserId::from(first.id.parse::<uuid::Uuid>().unwrap());
    let once = follow_gaps(&app, at, id, 1);
    let user = eventually(
        Duration::from_secs(20),
        "the model to reload after its gap",
        async || match (once.calls.load(Ordering::SeqCst), once.model.user(id)) {
            (2, Some(Some(user))) => Ok(user),
            (calls, answer) => Err(format!("{calls} feeds, {answer:?}")),
        },
    )
    .await;
    assert_eq!((user.name.as_str(), user.version), ("Gap", 1));
    assert_eq!(once.model.status(), MemoryStatus::At(at));
    once.stop.cancel();
    let always = follow_gaps(&app, at, id, usize::MAX);
    eventually(
        Duration::from_secs(20),
        "the model to give up",
        async || match always.model.status() {
            MemoryStatus::Unusable => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    assert_eq!(
        always.calls.load(Ordering::SeqCst),
        6,
        "one load and five reloads"
    );
    assert_eq!(always.model.user(id), None);
    always.stop.cancel();
}

both_engines!(
    past_its_bound_it_keeps_the_hottest_users_and_reads_the_rest_through,
    its_bound_holds_under_many_creates,
    after_a_gap_it_reloads_and_answers_again,
);

//! A projector's batch is applied whole or not at all, and only while its instance holds the
//! lease, whichever way it goes: a run of creates as one statement (PostgreSQL, once the
//! leader knows the view's counts), anything else as a transaction.

use std::time::Duration;

use cqrs_users::entities::users_view;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
use serde_json::json;

use crate::helpers::{Backend, TestApp, both_engines, eventually, spawn_app};

/// Ada and Bob created and projected into `users_view`, each in a batch of its own: after the
/// first batch the leader knows the counts, so Bob's goes the one-statement way on PostgreSQL.
async fn two_projected(app: &TestApp) {
    app.create_and_read("Ada", "ada@example.com").await;
    app.create_and_read("Bob", "bob@example.com").await;
    eventually(Duration::from_secs(10), "both in users_view", async || {
        let (names, ..) = view(app).await;
        (names.len() == 2).then_some(()).ok_or(format!("{names:?}"))
    })
    .await;
}

/// The view's names in list order, its counts, and the checkpoint.
async fn view(app: &TestApp) -> (Vec<String>, (i64, i64), String) {
    let (rows, stats) = app.view().await;
    let names = rows.into_iter().map(|row| row.name).collect();
    let checkpoint = app.projection_status().await.checkpoint.to_string();
    (names, (stats.user_count, stats.created_count), checkpoint)
}

/// A batch of two creates, the second of a user already in the view (put there by hand): nothing
/// of it is written (not the first user, not the counts, not the checkpoint), and the failure
/// names the create that does not fit.
async fn a_batch_with_a_create_that_does_not_fit_writes_none_of_it(backend: Backend) {
    let app = spawn_app(backend).await;
    two_projected(&app).await;
    let dee = uuid::Uuid::now_v7();
    let at = chrono::Utc::now();
    let by_hand = users_view::ActiveModel {
        id: Set(dee),
        name: Set("Dee".into()),
        email: Set("dee@example.com".into()),
        version: Set(1),
        created_at: Set(at),
        updated_at: Set(at),
        ordinal: Set(1000),
    };
    by_hand.insert(&app.read_db).await.unwrap();
    let before = view(&app).await;
    assert_eq!(before.0, ["Ada", "Bob", "Dee"]);

    // One statement, so one transaction and one batch: Cy, then Dee.
    let created = |name: &str, email: &str| {
        json!({ "type": "UserCreated", "name": name, "email": email }).to_string()
    };
    app.execute_on_write_db(
        "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) VALUES \
         (?, 1, 'UserCreated', ?, '2026-01-01T00:00:00Z'), \
         (?, 1, 'UserCreated', ?, '2026-01-01T00:00:00Z')",
        "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) VALUES \
         ($1, 1, 'UserCreated', $2::jsonb, now()), ($3, 1, 'UserCreated', $4::jsonb, now())",
        vec![
            uuid::Uuid::now_v7().into(),
            created("Cy", "cy@example.com").into(),
            dee.into(),
            created("Dee", "dee@example.com").into(),
        ],
    )
    .await;

    let reason = app.projection_failure().await.last_error.unwrap();
    let names_it = reason.contains(&format!("UserCreated of user {dee}"))
        && reason.contains("already in the view");
    assert!(names_it, "{reason}");
    assert_eq!(view(&app).await, before);
}

/// The lease taken by another holder between two batches: the next batch is not applied (the
/// fence), the server says it lost the lease, and once the lease is free again it takes it
/// back and projects what it could not.
async fn a_batch_is_not_applied_once_the_lease_is_elsewhere(backend: Backend) {
    let app = spawn_app(backend).await;
    two_projected(&app).await;
    let before = view(&app).await;

    // Right before the create, so the woken projector meets it in the batch (its idle renewal,
    // once a second, would find it first only if it fell in between).
    app.execute_on_read_db(
        "UPDATE projection_leases SET holder = 'elsewhere', expires_at_ms = expires_at_ms + 600000",
    )
    .await;
    app.create_user("Cy", "cy@example.com").await;
    eventually(
        Duration::from_secs(10),
        "the server to find the lease gone",
        async || {
            let logs = app.logs();
            logs.contains("lost the projection lease to another instance")
                .then_some(())
                .ok_or("not yet")
        },
    )
    .await;
    assert_eq!(view(&app).await, before);

    app.execute_on_read_db("UPDATE projection_leases SET expires_at_ms = 0")
        .await;
    eventually(Duration::from_secs(10), "Cy to be projected", async || {
        let (names, counts, _) = view(&app).await;
        (names == ["Ada", "Bob", "Cy"] && counts == (3, 3))
            .then_some(())
            .ok_or(format!("{names:?} {counts:?}"))
    })
    .await;
}

both_engines!(
    a_batch_with_a_create_that_does_not_fit_writes_none_of_it,
    a_batch_is_not_applied_once_the_lease_is_elsewhere,
);

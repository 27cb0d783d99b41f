//! The in-memory read model of each instance: it agrees with `users_view` field by field after
//! concurrent writes, a kill, a rebuild and with two instances; it answers token reads the
//! projector has not reached. Its bound and its recovery: `memory_bound.rs`.

use std::time::Duration;

use cqrs_users::config::ReadModel;
use cqrs_users::domain::User;
use cqrs_users::events;
use cqrs_users::projections::{self, MemoryModel};
use futures::future::join_all;

use crate::helpers::{
    Backend, Client, TestApp, both_engines, eventually, spawn_app, spawn_app_with,
};

/// Waits until `memory` and `users_view` have both applied the whole log, then asserts they hold
/// the same users, field by field, in the same order; returns them.
async fn agrees_with_users_view(app: &TestApp, memory: &MemoryModel) -> Vec<User> {
    let head = events::head(&app.write_db).await.unwrap();
    let held = eventually(
        Duration::from_secs(20),
        "both models at the log's head",
        async || {
            let checkpoint = projections::load_checkpoint(&app.read_db).await.unwrap();
            match memory.snapshot() {
                Some((at, users)) if at == head && checkpoint == head => Ok(users),
                other => Err(format!(
                    "memory {:?}, users_view {checkpoint}, head {head}",
                    other.map(|s| s.0)
                )),
            }
        },
    )
    .await;
    let (rows, stats) = app.view().await;
    let viewed: Vec<User> = rows.into_iter().map(User::from).collect::<Vec<_>>();
    assert_eq!(held, viewed);
    assert_eq!(held.len() as i64, stats.user_count);
    held
}

/// Concurrent creates, renames and deletes.
async fn write_concurrently(clients: &[&Client], tag: &str) {
    let seeds = join_all((0..8).map(|i| {
        let client = clients[i % clients.len()];
        async move {
            let email = format!("{tag}seed{i}@example.com");
            client
                .create_user(&format!("{tag} Seed {i}"), &email)
                .await
                .user
                .id
        }
    }))
    .await;
    let creates = (0..20).map(|i| {
        let client = clients[i % clients.len()];
        async move {
            let email = format!("{tag}new{i}@example.com");
            client.create_user(&format!("{tag} New {i}"), &email).await;
        }
    });
    let renames = (0..24).map(|i| {
        let (client, id) = (clients[i % clients.len()], &seeds[i % 6]);
        async move {
            client
                .update_user_name(id, &format!("{tag} Renamed {i}"), None)
                .await
                .ok();
        }
    });
    let deletes = seeds[6..].iter().enumerate().map(|(i, id)| {
        let client = clients[i % clients.len()];
        async move {
            client.delete_user(id, None).await.ok();
        }
    });
    join_all(creates).await;
    join_all(
        renames
            .map(futures::FutureExt::boxed)
            .chain(deletes.map(futures::FutureExt::boxed)),
    )
    .await;
}

/// After concurrent writes the model equals `users_view`, and the API answers the same pages
/// from memory as an instance reading `users_view` only.
async fn agrees_after_concurrent_writes(backend: Backend) {
    let app = spawn_app_with(backend, &["--max-connections", "8"]).await;
    write_concurrently(&[&app], "a").await;
    let held = agrees_with_users_view(&app, app.memory()).await;
    assert_eq!(held.len(), 26);
    let database = app
        .start_instance_with(|c| c.read_model = ReadModel::Database)
        .await;
    assert!(database.memory.is_none());
    for (page, size) in [(1, 10), (2, 10), (3, 10), (1, 100)] {
        let from_memory = app.users(page, size, None).await.ok();
        assert_eq!(from_memory, database.users(page, size, None).await.ok());
    }
    let one = &held[3].id.to_string();
    assert_eq!(
        app.user(one, None).await.ok(),
        database.user(one, None).await.ok()
    );
    assert!(!app.logs().contains("unusable"), "{}", app.logs());
}

/// Two instances each keep their own model; both agree with `users_view` after writes through both.
async fn two_instances_agree(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.start_instance().await;
    write_concurrently(&[&app, &other], "b").await;
    let first = agrees_with_users_view(&app, app.memory()).await;
    let second = agrees_with_users_view(&app, other.memory.as_ref().unwrap()).await;
    assert_eq!(first, second);
}

/// Killed, then started while the dead instance still holds the projection lease: the new
/// instance loads its model from `users_view` and the log, and answers token reads of writes the
/// projector has not applied, where an instance reading `users_view` only times out.
async fn after_a_kill_it_reloads_and_answers_what_the_projector_has_not_reached(backend: Backend) {
    let flags = [
        "--projector-lease-ms",
        "60000",
        "--consistency-timeout-ms",
        "2000",
    ];
    let mut app = spawn_app_with(backend, &flags).await;
    write_concurrently(&[&app], "c").await;
    agrees_with_users_view(&app, app.memory()).await;
    app.kill().await;
    app.start().await;
    let created = app.create_user("After", "after@example.com").await;
    let token = created.consistency_token.as_str();
    let user = app.user(&created.user.id, Some(token)).await.ok();
    assert_eq!(user.name, "After");
    let page = app.users(1, 100, Some(token)).await.ok();
    assert_eq!(page.total_count, 27);
    assert_eq!(
        page.items.last().map(|u| u.id.as_str()),
        Some(created.user.id.as_str())
    );
    let (rows, _) = app.view().await;
    assert_eq!(
        rows.len(),
        26,
        "the projector is held back by the dead instance's lease"
    );
    let database = app
        .start_instance_with(|c| {
            c.read_model = ReadModel::Database;
            c.consistency_timeout_ms = 300;
        })
        .await;
    let answer = database.user(&created.user.id, Some(token)).await;
    assert_eq!(answer.code(), "CONSISTENCY_TIMEOUT");
    let (written, _) = app.both_models().await;
    let (_, mut held) = app.memory().snapshot().expect("a usable model");
    held.sort_by_key(|u| u.id);
    assert_eq!(held, written);
}

/// A rebuild of `users_view` does not confuse the model: it follows the log, not the view.
async fn follows_the_log_across_a_rebuild(backend: Backend) {
    let app = spawn_app(backend).await;
    write_concurrently(&[&app], "d").await;
    agrees_with_users_view(&app, app.memory()).await;
    let rebuilt = projections::rebuild(
        &app.write_db,
        &app.read_db,
        7,
        Duration::from_secs(2),
        false,
    );
    rebuilt.await.unwrap();
    write_concurrently(&[&app], "e").await;
    let held = agrees_with_users_view(&app, app.memory()).await;
    assert_eq!(held.len(), 52);
}

both_engines!(
    agrees_after_concurrent_writes,
    two_instances_agree,
    after_a_kill_it_reloads_and_answers_what_the_projector_has_not_reached,
    follows_the_log_across_a_rebuild,
);

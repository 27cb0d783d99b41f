//! Concurrent writers: nothing fails for lack of a lock, every event is projected exactly once, and
//! on PostgreSQL a transaction that commits after a later one is still projected (not skipped).

use std::time::Duration;

use cqrs_users::domain::{self, LogPosition, UserId};
use cqrs_users::entities::users;
use cqrs_users::events::{self, UserEvent};
use futures::future::join_all;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, TransactionTrait};
use serde_json::json;

use crate::each_backend;
use crate::helpers::{
    Backend, UPDATE_USER_NAME, assert_no_errors, assert_projected_exactly_once, error_code,
    spawn_app_with,
};

each_backend! {
    /// 50 parallel creates all succeed (no `database is locked` on SQLite) and all are projected.
    async fn fifty_parallel_creates_all_succeed(app) {
        let creates = (0..50).map(|i| {
            let app = &app;
            async move { app.create_user(&format!("User {i}"), &format!("user{i}@example.com")).await }
        });
        let created = join_all(creates).await;
        assert_eq!(created.len(), 50);
        let viewed = app.converge(Duration::from_secs(20)).await;
        assert_eq!(viewed.len(), 50);
        assert_projected_exactly_once(&app).await;
    }
}

each_backend! {
    /// Two creates racing for one address: exactly one wins, the other is CONFLICT.
    async fn racing_creates_of_one_email_admit_one(app) {
        let attempts = (0..8).map(|i| {
            let app = &app;
            async move {
                app.graphql(crate::helpers::CREATE_USER, json!({ "input": { "name": format!("Racer {i}"), "email": "same@example.com" } })).await
            }
        });
        let results = join_all(attempts).await;
        let winners = results.iter().filter(|b| b.get("errors").is_none()).count();
        assert_eq!(winners, 1, "{results:#?}");
        for body in results.iter().filter(|b| b.get("errors").is_some()) {
            assert_eq!(error_code(body), "CONFLICT");
        }
        assert_eq!(app.write_counts().await, (1, 1));
    }
}

/// Many parallel creates and renames from several connections: every command succeeds, versions
/// stay contiguous per user, and the read model ends equal to the write model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_and_renames_project_exactly_once() {
    for backend in backends() {
        let app = spawn_app_with(backend, &["--max-connections", "8"]).await;
        let seeds: Vec<String> = join_all((0..10).map(|i| {
            let app = &app;
            async move {
                app.create_user(&format!("Seed {i}"), &format!("seed{i}@example.com"))
                    .await["user"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        }))
        .await;
        let creates = (0..30).map(|i| {
            let app = &app;
            async move {
                let payload = app
                    .create_user(&format!("New {i}"), &format!("new{i}@example.com"))
                    .await;
                payload["consistencyToken"].as_str().unwrap().to_owned()
            }
        });
        let renames = (0..40).map(|i| {
            let app = &app;
            let id = seeds[i % seeds.len()].clone();
            async move {
                let body = app
                    .graphql(
                        UPDATE_USER_NAME,
                        json!({ "input": { "id": id, "name": format!("Renamed {i}") } }),
                    )
                    .await;
                assert_no_errors(&body);
                body["data"]["updateUserName"]["consistencyToken"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        });
        let (created, renamed) = futures::join!(join_all(creates), join_all(renames));
        assert_eq!(created.len() + renamed.len(), 70);

        // The greatest token is the last event in log order; reading with it sees everything.
        let last = created.iter().chain(&renamed).max().unwrap();
        let body = app
            .graphql(
                crate::helpers::USERS,
                json!({ "page": 1, "pageSize": 100, "consistencyToken": last }),
            )
            .await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["users"]["totalCount"], 40);
        let written = app.converge(Duration::from_secs(20)).await;
        assert_eq!(written.iter().map(|u| u.version).sum::<i32>(), 40 + 40);
        assert_projected_exactly_once(&app).await;
    }
}

/// A writer whose transaction began first but commits last: its event has the smaller sequence
/// number yet becomes visible after a later one. The projector must wait for it, not skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_is_not_skipped() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped (SQLite serialises writers)");
        return;
    };
    let app = spawn_app_with(backend, &["--consistency-timeout-ms", "500"]).await;

    // The slow writer: a user row and its event, appended first, committed last.
    let slow = app.write_db.begin().await.unwrap();
    let slow_id = UserId::new();
    let now = domain::now();
    users::ActiveModel {
        id: Set(slow_id.as_uuid()),
        name: Set("Slow".into()),
        email: Set("slow@example.com".into()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&slow)
    .await
    .unwrap();
    let slow_position = events::append(
        &slow,
        slow_id,
        1,
        now,
        UserEvent::UserCreated {
            name: "Slow".into(),
            email: "slow@example.com".into(),
        },
    )
    .await
    .unwrap();

    let fast = app.create_user("Fast", "fast@example.com").await;
    let fast_token = fast["consistencyToken"].as_str().unwrap();
    let fast_seq = LogPosition::parse(fast_token, "t").unwrap().seq;
    assert!(
        fast_seq > slow_position.seq,
        "the fast event got the later sequence number"
    );

    // While the slow transaction is open, the fast event must not be applied past it.
    let body = app
        .graphql(
            crate::helpers::USER,
            json!({ "id": fast["user"]["id"], "consistencyToken": fast_token }),
        )
        .await;
    assert_eq!(error_code(&body), "CONSISTENCY_TIMEOUT", "{body:#}");

    slow.commit().await.unwrap();
    // Both are readable now: the late one was waited for, not skipped.
    let user = app
        .user_eventually(fast["user"]["id"].as_str().unwrap(), fast_token)
        .await;
    assert_eq!(user["name"], "Fast");
    let user = app
        .user_eventually(&slow_id.to_string(), &slow_position.to_string())
        .await;
    assert_eq!(user["name"], "Slow");
    app.converge(Duration::from_secs(10)).await;
    assert_projected_exactly_once(&app).await;
}

fn backends() -> Vec<Backend> {
    std::iter::once(Backend::Sqlite)
        .chain(Backend::postgres())
        .collect()
}

each_backend! {
    /// A page and its totals come from one snapshot: while 8 clients create users, the last page
    /// read again and again always holds exactly what its `totalCount` says it should, and
    /// `hasNextPage` agrees with both.
    async fn a_page_never_contradicts_its_totals_under_writes(app) {
        const SIZE: u64 = 10;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let writers = join_all((0..8).map(|w| {
            let (app, stop) = (&app, &stop);
            async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    i += 1;
                    app.create_user(&format!("W{w} #{i}"), &format!("w{w}n{i}@example.com")).await;
                }
            }
        }));
        let reader = async {
            let (mut reads, mut page) = (0, 1);
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(4) {
                let body = app.graphql(crate::helpers::USERS, json!({ "page": page, "pageSize": SIZE })).await;
                assert_no_errors(&body);
                let users = &body["data"]["users"];
                let total = users["totalCount"].as_u64().unwrap();
                let items = users["items"].as_array().unwrap().len() as u64;
                let before = (page - 1) * SIZE;
                assert_eq!(items, total.saturating_sub(before).min(SIZE), "page {page} torn: {users}");
                assert_eq!(users["hasNextPage"].as_bool().unwrap(), page * SIZE < total, "page {page} torn: {users}");
                // The last page as of this read: the one the next writes land on.
                page = total.div_ceil(SIZE).max(1);
                reads += 1;
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            reads
        };
        let (_, reads) = futures::join!(writers, reader);
        eprintln!("{reads} reads of the last page, none torn");
        assert!(reads > 50, "too few reads to mean anything: {reads}");
    }
}

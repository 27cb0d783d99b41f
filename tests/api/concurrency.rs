//! Concurrent writers: nothing fails for lack of a lock, every event is projected exactly once, and
//! on PostgreSQL a transaction that commits after a later one is still projected (not skipped).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cqrs_users::domain::{self, Caller, LogPosition, UserId};
use cqrs_users::entities::users;
use cqrs_users::events::{self, UserEvent};
use futures::future::join_all;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, TransactionTrait};

use crate::helpers::{Backend, both_engines, spawn_app, spawn_app_with};

/// 50 parallel creates all succeed (no `database is locked` on SQLite) and all are projected.
async fn fifty_parallel_creates_all_succeed(backend: Backend) {
    let app = spawn_app(backend).await;
    let creates = (0..50).map(|i| {
        let app = &app;
        async move {
            app.create_user(&format!("User {i}"), &format!("user{i}@example.com"))
                .await
        }
    });
    let created = join_all(creates).await;
    assert_eq!(created.len(), 50);
    let viewed = app.converge_exactly_once(Duration::from_secs(20)).await;
    assert_eq!(viewed.len(), 50);
}

/// Two creates racing for one address: exactly one wins, the other is CONFLICT.
async fn racing_creates_of_one_email_admit_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts = (0..8).map(|i| {
        let app = &app;
        async move {
            app.try_create_user(&format!("Racer {i}"), "same@example.com")
                .await
        }
    });
    let answers = join_all(attempts).await;
    let winners = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(winners, 1, "{answers:#?}");
    for answer in answers.iter().filter(|a| !a.is_ok()) {
        assert_eq!(answer.code(), "CONFLICT");
    }
    assert_eq!(app.write_counts().await, (1, 1));
}

/// Many parallel creates and renames from several connections: every command succeeds, versions
/// stay contiguous per user, and the read model ends equal to the write model.
async fn concurrent_creates_and_renames_project_exactly_once(backend: Backend) {
    let app = spawn_app_with(backend, &["--max-connections", "8"]).await;
    let seeds: Vec<String> = join_all((0..10).map(|i| {
        let app = &app;
        async move {
            let created = app
                .create_user(&format!("Seed {i}"), &format!("seed{i}@example.com"))
                .await;
            created.user.id
        }
    }))
    .await;
    let creates = (0..30).map(|i| {
        let app = &app;
        async move {
            let created = app
                .create_user(&format!("New {i}"), &format!("new{i}@example.com"))
                .await;
            created.consistency_token
        }
    });
    let renames = (0..40).map(|i| {
        let (app, id) = (&app, &seeds[i % seeds.len()]);
        async move {
            let name = format!("Renamed {i}");
            let renamed = app.update_user_name(id, &name, None).await.ok();
            renamed.consistency_token
        }
    });
    let (created, renamed) = futures::join!(join_all(creates), join_all(renames));
    assert_eq!(created.len() + renamed.len(), 70);

    // The greatest token is the last event in log order; reading with it sees everything.
    let last = created.iter().chain(&renamed).max().unwrap();
    let page = app.users(1, 100, Some(last)).await.ok();
    assert_eq!(page.total_count, 40);
    let written = app.converge_exactly_once(Duration::from_secs(20)).await;
    assert_eq!(written.iter().map(|u| u.version).sum::<i32>(), 40 + 40);
}

/// A writer whose transaction began first but commits last: its event has the smaller sequence
/// number yet becomes visible after a later one. The projector must wait for it, not skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_is_not_skipped() {
    let Some(backend) = Backend::postgres_only("SQLite serialises writers") else {
        return;
    };
    let app = spawn_app_with(backend, &["--consistency-timeout-ms", "500"]).await;

    // The slow writer: a user row and its event, appended first, committed last.
    let slow = app.write_db.begin().await.unwrap();
    let slow_id = UserId::new();
    let now = domain::now();
    let (name, email) = ("Slow".to_owned(), "slow@example.com".to_owned());
    users::ActiveModel {
        id: Set(slow_id.as_uuid()),
        name: Set(name.clone()),
        email: Set(email.clone()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&slow)
    .await
    .unwrap();
    let created = UserEvent::UserCreated { name, email };
    let slow_position = events::append(&slow, slow_id, 1, now, created, &Caller::developer())
        .await
        .unwrap();

    let fast = app.create_user("Fast", "fast@example.com").await;
    let fast_token = fast.consistency_token.as_str();
    let fast_seq = LogPosition::parse(fast_token, "t").unwrap().seq;
    assert!(
        fast_seq > slow_position.seq,
        "the fast event got the later sequence number"
    );

    // While the slow transaction is open, the fast event must not be applied past it.
    let answer = app.user(&fast.user.id, Some(fast_token)).await;
    assert_eq!(answer.code(), "CONSISTENCY_TIMEOUT", "{answer}");

    slow.commit().await.unwrap();
    // Both are readable now: the late one was waited for, not skipped.
    let user = app.user_eventually(&fast.user.id, fast_token).await;
    assert_eq!(user.name, "Fast");
    let slow_token = slow_position.to_string();
    let user = app.user_eventually(&slow_id.to_string(), &slow_token).await;
    assert_eq!(user.name, "Slow");
    app.converge_exactly_once(Duration::from_secs(10)).await;
}

/// A page and its totals come from one snapshot: while 8 clients create users, the last page
/// is read again and again, at least `READS` times and until the projector has moved the total
/// `MOVES` times under the reader, and each read holds exactly what its `totalCount` says it
/// should, with `hasNextPage` agreeing with both. The test counts work, not seconds, so a slow
/// machine makes it longer, not weaker.
async fn a_page_never_contradicts_its_totals_under_writes(backend: Backend) {
    const SIZE: i64 = 10;
    const READS: usize = 60;
    const MOVES: usize = 10;
    const MOST: Duration = Duration::from_secs(120);
    let app = spawn_app(backend).await;
    let stop = AtomicBool::new(false);
    let writers = join_all((0..8).map(|w| {
        let (app, stop) = (&app, &stop);
        async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                app.create_user(&format!("W{w} #{i}"), &format!("w{w}n{i}@example.com"))
                    .await;
            }
        }
    }));
    let reader = async {
        let started = Instant::now();
        let (mut page, mut reads, mut moves, mut last) = (1, 0, 0, 0);
        while reads < READS || moves < MOVES {
            assert!(started.elapsed() < MOST, "{moves} moves in {reads} reads");
            let users = app.users(page, SIZE, None).await.ok();
            let (total, items) = (users.total_count, users.items.len() as i64);
            let before = (page - 1) * SIZE;
            let expected = (total - before).clamp(0, SIZE);
            assert_eq!(items, expected, "page {page} torn: {users:?}");
            let more = page * SIZE < total;
            assert_eq!(users.has_next_page, more, "page {page} torn: {users:?}");
            // The last page as of this read: the one the next writes land on.
            page = ((total + SIZE - 1) / SIZE).max(1);
            reads += 1;
            moves += usize::from(reads > 1 && total != last);
            last = total;
        }
        stop.store(true, Ordering::SeqCst);
        (reads, moves)
    };
    let (_, (reads, moves)) = futures::join!(writers, reader);
    eprintln!("{reads} reads of the last page, none torn; the total moved {moves} times");
}

/// A burst of creates, four for each of 24 addresses in different letter cases, all at once
/// (on SQLite, many of them written in one batch, duplicates beside their first): one create per
/// address wins, every other is CONFLICT, each winner is in the write model and the log once,
/// and reads its own write with its token.
async fn a_burst_of_creates_admits_each_address_once(backend: Backend) {
    const ADDRESSES: usize = 24;
    let app = spawn_app(backend).await;
    let attempts = (0..4 * ADDRESSES).map(|i| {
        let app = &app;
        let (address, attempt) = (i % ADDRESSES, i / ADDRESSES);
        let email = match attempt % 2 {
            0 => format!("burst{address}@example.com"),
            _ => format!("Burst{address}@Example.COM"),
        };
        async move {
            let name = format!("Burst {address} try {attempt}");
            (address, app.try_create_user(&name, &email).await)
        }
    });
    let answers = join_all(attempts).await;
    let mut winners = vec![Vec::new(); ADDRESSES];
    for (address, answer) in answers {
        if answer.is_ok() {
            winners[address].push(answer.ok());
        } else {
            assert_eq!(answer.code(), "CONFLICT", "{answer}");
        }
    }
    for (address, won) in winners.iter().enumerate() {
        assert_eq!(won.len(), 1, "address {address}: {won:#?}");
    }
    assert_eq!(app.write_counts().await, (ADDRESSES, ADDRESSES));
    for created in winners.iter().flatten() {
        let token = Some(created.consistency_token.as_str());
        let read = app.user(&created.user.id, token).await.ok();
        assert_eq!(read.name, created.user.name);
    }
    app.converge_exactly_once(Duration::from_secs(20)).await;
}

both_engines!(
    fifty_parallel_creates_all_succeed,
    racing_creates_of_one_email_admit_one,
    a_burst_of_creates_admits_each_address_once,
    concurrent_creates_and_renames_project_exactly_once,
    a_page_never_contradicts_its_totals_under_writes,
);

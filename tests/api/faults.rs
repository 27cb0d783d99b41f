//! Faults: `kill -9` under write load, the database going away and coming back, an event the
//! projector cannot apply, a lock held outside the service.

use std::time::{Duration, Instant};

use futures::future::join_all;

use cqrs_users::entities::{user_events, users};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, Statement,
    TransactionTrait,
};
use serde_json::{Value, json};

use crate::helpers::proxy::{Proxy, route_through, target};
use crate::helpers::{
    Backend, Load, Served, assert_no_errors, both_engines, error_code, eventually, spawn_app,
    spawn_app_routed, spawn_app_with,
};

/// `kill -9` while 16 clients write: every acknowledged create is in the write model and the
/// log; after a restart the read model converges and nothing is applied twice.
async fn kill_9_under_write_load_loses_no_acknowledged_write(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.stop().await;
    let mut served = Served::start(app.binary());
    let load = Load::start(&served.address, 16);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    served.signal("-9");
    served.exit(Duration::from_secs(15));
    let acknowledged = load.stop().await;
    let count = acknowledged.len();
    assert!(
        count > 16,
        "the load wrote too little to mean anything: {count}"
    );

    for id in &acknowledged {
        let uuid: uuid::Uuid = id.parse().unwrap();
        let user = users::Entity::find_by_id(uuid).one(&app.write_db).await;
        assert!(user.unwrap().is_some(), "acknowledged {id} lost");
        let events = user_events::Entity::find()
            .filter(user_events::Column::UserId.eq(uuid))
            .count(&app.write_db)
            .await
            .unwrap();
        assert_eq!(events, 1, "{id} has no event");
    }
    app.start().await;
    let rows = app.converge_exactly_once(Duration::from_secs(30)).await;
    assert!(rows.len() >= count);
    eprintln!(
        "{count} acknowledged before kill -9, {} in the write model",
        rows.len()
    );
}

/// An event the projector cannot apply stops it loudly: the log, `/readyz` and `status` say
/// so and why; token reads time out instead of answering stale data; once the event is
/// repaired the projector recovers by itself.
async fn a_malformed_event_is_reported_not_skipped(backend: Backend) {
    let app = spawn_app_with(backend, &["--consistency-timeout-ms", "500"]).await;
    let ada = app.create_and_read("Ada", "ada@example.com").await;
    let id: uuid::Uuid = ada.id.parse().unwrap();
    app.execute_on_write_db(
        "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) \
         VALUES (?, 2, 'UserRenamed', '{\"type\":\"UserRenamed\"}', '2026-01-01T00:00:00Z')",
        "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) \
         VALUES ($1, 2, 'UserRenamed', '{\"type\":\"UserRenamed\"}', now())",
        vec![id.into()],
    )
    .await;
    let after = app.create_user("Bob", "bob@example.com").await;

    let status = app.projection_failure().await;
    let reason = status.last_error.clone().unwrap();
    let names_it = reason.contains("malformed") && reason.contains("UserRenamed");
    assert!(names_it, "{reason}");
    assert!(status.lag >= 2, "{status}");
    assert!(status.to_string().contains("FAILING"), "{status}");
    let ready = app.http().get(app.url("/readyz")).send().await.unwrap();
    let ready: Value = ready.json().await.unwrap();
    let state = ready["projection"]["state"].as_str().unwrap();
    assert!(state.starts_with("failing"), "{ready}");
    assert!(app.logs().contains("projection of users_view failed"));
    let token = Some(after.consistency_token.as_str());
    let answer = app.user(&after.user.id, token).await;
    assert_eq!(answer.code(), "CONSISTENCY_TIMEOUT");

    app.write_db
        .execute_unprepared(
            "UPDATE user_events SET payload = \
             '{\"type\":\"UserRenamed\",\"previous_name\":\"Ada\",\"new_name\":\"Ada R\"}' \
             WHERE event_type = 'UserRenamed'",
        )
        .await
        .unwrap();
    app.user_eventually(&after.user.id, &after.consistency_token)
        .await;
    // The token may be read from the in-memory model, which reads the log itself: wait for
    // the projector too.
    let recovered = async || match app.projection_status().await.last_error {
        None => Ok(()),
        Some(error) => Err(error),
    };
    eventually(
        Duration::from_secs(10),
        "the projector to recover",
        recovered,
    )
    .await;
    let user = app.user(&id.to_string(), None).await.ok();
    assert_eq!(user.name, "Ada R");
}

/// The database going away and coming back (PostgreSQL, through a proxy the test cuts): requests
/// fail fast with SERVICE_UNAVAILABLE, /readyz says not ready, and everything recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_fails_fast_and_recovers() {
    let Some(backend) = Backend::postgres_only("the proxy stands before PostgreSQL") else {
        return;
    };
    let Backend::Postgres(admin_url) = &backend else {
        unreachable!()
    };
    let proxy = Proxy::start(target(admin_url)).await;
    let port = proxy.port;
    // Reads from users_view only: the in-memory model would answer them through the outage.
    let flags = ["--read-model", "database"];
    let app = spawn_app_routed(backend, &flags, move |url| route_through(url, port)).await;
    // Several connections open in each pool, idle when the database goes: each dies unseen.
    let before = 4;
    let emails: Vec<_> = (0..before).map(|i| format!("b{i}@example.com")).collect();
    let creates = emails.iter().map(|email| app.create_user("Before", email));
    let reads = (0..2 * before).map(|_| app.graphql("{ users { totalCount } }", json!({})));
    let (_, reads) = tokio::join!(join_all(creates), join_all(reads));
    for read in reads {
        assert_no_errors(&read);
    }

    proxy.cut();
    let started = Instant::now();
    let answer = app.try_create_user("During", "during@example.com").await;
    let elapsed = started.elapsed();
    assert_eq!(answer.code(), "SERVICE_UNAVAILABLE", "{answer}");
    assert!(!answer.error().message.contains("5432"));
    eprintln!("a write during the outage failed after {elapsed:?}");
    let body = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body:#}");
    let readyz = async || app.http().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz().await.status(), 503);
    let counts = app.write_counts().await;
    assert_eq!(
        counts,
        (before, before),
        "nothing was written during the outage"
    );

    proxy.restore();
    let started = Instant::now();
    let created = eventually(Duration::from_secs(20), "writes to recover", async || {
        let answer = app.try_create_user("After", "after@example.com").await;
        if answer.is_ok() {
            Ok(answer.ok())
        } else {
            Err(answer)
        }
    })
    .await;
    let recovered = started.elapsed();
    eprintln!("writes recovered {recovered:?} after the database came back");
    let token = Some(created.consistency_token.as_str());
    let user = app.user(&created.user.id, token).await.ok();
    assert_eq!(user.name, "After", "the projector resumed");
    assert_eq!(readyz().await.status(), 200);
    // Once the database answers again, so does every request: no connection that died idle
    // during the outage is handed to one.
    let emails: Vec<_> = (0..8).map(|i| format!("after{i}@example.com")).collect();
    let creates = emails
        .iter()
        .map(|email| app.try_create_user("After", email));
    let reads = (0..16).map(|_| app.graphql("{ users { totalCount } }", json!({})));
    let (creates, reads) = tokio::join!(join_all(creates), join_all(reads));
    for create in creates {
        assert!(create.is_ok(), "{create}");
    }
    for read in reads {
        assert_no_errors(&read);
    }
}

/// A command stuck behind a lock held outside the service gives up after the lock limit (or, on
/// PostgreSQL, after the statement limit when that is the one set) with SERVICE_UNAVAILABLE and
/// no SQL in the message; nothing is written, the server keeps answering, and the same rename
/// goes through once the lock is gone. The lock is a session changing the user's row in an open
/// transaction: on PostgreSQL that holds the row, on SQLite the whole file's write lock (a
/// `sqlite3` shell, another process), which a create then waits for too.
async fn a_command_stuck_behind_a_foreign_lock_gives_up_unavailable(backend: Backend) {
    let sqlite = matches!(backend, Backend::Sqlite);
    let by_lock = [
        "--db-lock-timeout-ms",
        "300",
        "--db-statement-timeout-ms",
        "0",
    ];
    let by_statement = [
        "--db-lock-timeout-ms",
        "0",
        "--db-statement-timeout-ms",
        "300",
    ];
    // SQLite has no statement limit: with the lock limit off it waits as long as the lock holds.
    let limits = if sqlite {
        vec![by_lock]
    } else {
        vec![by_lock, by_statement]
    };
    for flags in limits {
        let app = spawn_app_with(backend.clone(), &flags).await;
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created.user.id.as_str();
        let uuid: uuid::Uuid = id.parse().unwrap();
        // A session of its own: on SQLite the test's pool has one connection, and the counts
        // below need it while the lock is held.
        let foreign = sea_orm::Database::connect(app.config.write_database_url())
            .await
            .unwrap();
        let holder = foreign.begin().await.unwrap();
        let backend = holder.get_database_backend();
        let lock = match backend {
            DbBackend::Postgres => "SELECT id FROM users WHERE id = $1 FOR UPDATE",
            _ => "UPDATE users SET name = name WHERE id = $1",
        };
        let lock = Statement::from_sql_and_values(backend, lock, [uuid.into()]);
        holder.execute_raw(lock).await.unwrap();

        let renamed = app.update_user_name(id, "Stuck", None).await;
        let mut stuck = vec![(renamed.code().to_owned(), renamed.error().message.clone())];
        if sqlite {
            let created = app.try_create_user("Bob", "bob@example.com").await;
            stuck.push((created.code().to_owned(), created.error().message.clone()));
        }
        for (code, message) in stuck {
            assert_eq!(code, "SERVICE_UNAVAILABLE", "{flags:?}: {message}");
            let names_sql = message.contains("lock") || message.contains("statement");
            assert!(!names_sql, "{message}");
        }
        let counts = app.write_counts().await;
        assert_eq!(counts, (1, 1), "nothing was written");
        assert_no_errors(&app.graphql("{ users { totalCount } }", json!({})).await);

        holder.rollback().await.unwrap();
        let renamed = app.update_user_name(id, "Stuck", None).await.ok();
        assert_eq!(renamed.user.name, "Stuck");
        if sqlite {
            app.create_user("Bob", "bob@example.com").await;
        }
    }
}

/// Creates the database refuses, among many it does not, all at once (on SQLite, written in
/// batches with them): exactly the refused ones fail, with INTERNAL_SERVER_ERROR and not the
/// cause, and wrote nothing (the address is free again); every other one is acknowledged, in the
/// write model and the log once, and reads its own write.
async fn a_create_the_database_refuses_writes_nothing_beside_the_others(backend: Backend) {
    let app = spawn_app(backend).await;
    app.execute_on_write_db(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON user_events \
         WHEN NEW.payload LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused poison'); END",
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.payload::text LIKE '%poison%' THEN RAISE EXCEPTION 'refused poison'; END IF; \
         RETURN NEW; END $$",
        vec![],
    )
    .await;
    app.execute_on_write_db(
        "SELECT 1",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON user_events \
         FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
        vec![],
    )
    .await;
    let email = |i: usize| match i % 6 {
        0 => format!("poison{i}@example.com"),
        _ => format!("fine{i}@example.com"),
    };
    let attempts = (0..48).map(|i| {
        let app = &app;
        async move {
            (
                i,
                app.try_create_user(&format!("User {i}"), &email(i)).await,
            )
        }
    });
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for (i, answer) in join_all(attempts).await {
        if answer.is_ok() {
            assert!(i % 6 != 0, "a poisoned create was acknowledged: {answer}");
            acknowledged.push(answer.ok());
            continue;
        }
        assert_eq!(answer.code(), "INTERNAL_SERVER_ERROR", "{answer}");
        let told = answer.to_string();
        assert!(
            !told.contains("refused") && !told.contains("user_events"),
            "{told}"
        );
        refused.push(i);
    }
    assert_eq!(refused.iter().filter(|i| *i % 6 == 0).count(), 8);
    let count = acknowledged.len();
    assert!(
        count >= 20,
        "most creates are not poisoned: {count} acknowledged"
    );
    assert_eq!(app.write_counts().await, (count, count));
    for created in &acknowledged {
        let token = Some(created.consistency_token.as_str());
        let read = app.user(&created.user.id, token).await.ok();
        assert_eq!(read.name, created.user.name);
    }
    // Nothing of a refused create stayed: its address is free.
    app.execute_on_write_db(
        "DROP TRIGGER refuse_poison",
        "DROP TRIGGER refuse_poison ON user_events",
        vec![],
    )
    .await;
    for i in &refused {
        app.create_user(&format!("Again {i}"), &email(*i)).await;
    }
    app.converge_exactly_once(Duration::from_secs(20)).await;
}

both_engines!(
    a_command_stuck_behind_a_foreign_lock_gives_up_unavailable,
    kill_9_under_write_load_loses_no_acknowledged_write,
    a_create_the_database_refuses_writes_nothing_beside_the_others,
    a_malformed_event_is_reported_not_skipped,
);

//! Faults: `kill -9` under write load, the database going away and coming back, an event the
//! projector cannot apply.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cqrs_users::entities::{user_events, users};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{
    Backend, CREATE_USER, TestApp, UPDATE_USER_NAME, USER, assert_no_errors,
    assert_projected_exactly_once, binary, captured_logs, error_code, serve_binary,
    spawn_app_routed,
};
use crate::proxy::{Proxy, route_through};

/// Starts the real binary on the app's databases; returns it and its address.
fn start_binary(app: &TestApp) -> (std::process::Child, String) {
    let mut command = binary();
    command
        .args(["--database-url", app.config.write_database_url()])
        .args(["--read-database-url", app.config.read_database_url()]);
    serve_binary(command)
}

each_backend! {
    /// `kill -9` while 16 clients write: every acknowledged create is in the write model and the
    /// log; after a restart the read model converges and nothing is applied twice.
    async fn kill_9_under_write_load_loses_no_acknowledged_write(mut app) {
        app.stop().await;
        let (mut child, address) = start_binary(&app);
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let writers = (0..16).map(|w| {
            let (client, address, acknowledged) = (app.client.clone(), address.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let body = json!({ "query": CREATE_USER, "variables": { "input": { "name": format!("W{w} #{i}"), "email": format!("w{w}n{i}@example.com") } } });
                    let Ok(response) = client.post(format!("{address}/graphql")).json(&body).send().await else { break };
                    let Ok(body) = response.json::<Value>().await else { break };
                    if let Some(id) = body["data"]["createUser"]["user"]["id"].as_str() {
                        acknowledged.lock().unwrap().push(id.to_owned());
                    }
                }
            })
        });
        let writers: Vec<_> = writers.collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
        child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(acknowledged.len() > 16, "the load wrote too little to mean anything: {}", acknowledged.len());

        for id in &acknowledged {
            let uuid: uuid::Uuid = id.parse().unwrap();
            assert!(users::Entity::find_by_id(uuid).one(&app.write_db).await.unwrap().is_some(), "acknowledged {id} lost");
            let events = user_events::Entity::find()
                .filter(user_events::Column::UserId.eq(uuid))
                .all(&app.write_db)
                .await
                .unwrap();
            assert_eq!(events.len(), 1, "{id} has no event");
        }
        app.start().await;
        let rows = app.converge(Duration::from_secs(30)).await;
        assert!(rows.len() >= acknowledged.len());
        assert_projected_exactly_once(&app).await;
        eprintln!("{} acknowledged before kill -9, {} in the write model", acknowledged.len(), rows.len());
    }
}

each_backend! {
    /// An event the projector cannot apply stops it loudly: the log, `/readyz` and `status` say
    /// so and why; token reads time out instead of answering stale data; once the event is
    /// repaired the projector recovers by itself.
    async fn a_malformed_event_is_reported_not_skipped(app, flags = ["--consistency-timeout-ms", "500"]) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id: uuid::Uuid = created["user"]["id"].as_str().unwrap().parse().unwrap();
        app.user_eventually(&id.to_string(), created["consistencyToken"].as_str().unwrap()).await;
        let sql = match app.write_db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) VALUES ($1, 2, 'UserRenamed', '{\"type\":\"UserRenamed\"}', now())",
            _ => "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) VALUES (?, 2, 'UserRenamed', '{\"type\":\"UserRenamed\"}', '2026-01-01T00:00:00Z')",
        };
        app.write_db
            .execute_raw(sea_orm::Statement::from_sql_and_values(app.write_db.get_database_backend(), sql, [id.into()]))
            .await
            .unwrap();
        let after = app.create_user("Bob", "bob@example.com").await;

        let started = Instant::now();
        let status = loop {
            let status = cqrs_users::projections::status(&app.write_db, &app.read_db).await.unwrap();
            if status.last_error.is_some() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the failure was never recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let reason = status.last_error.clone().unwrap();
        assert!(reason.contains("malformed") && reason.contains("UserRenamed"), "{reason}");
        assert!(status.lag >= 2, "{status}");
        assert!(status.to_string().contains("FAILING"), "{status}");
        let ready: Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert!(ready["projection"]["state"].as_str().unwrap().starts_with("failing"), "{ready}");
        assert!(captured_logs().contains("projection of users_view failed"));
        let body = app.graphql(USER, json!({ "id": after["user"]["id"], "consistencyToken": after["consistencyToken"] })).await;
        assert_eq!(error_code(&body), "CONSISTENCY_TIMEOUT");

        app.write_db
            .execute_unprepared("UPDATE user_events SET payload = '{\"type\":\"UserRenamed\",\"previous_name\":\"Ada\",\"new_name\":\"Ada R\"}' WHERE event_type = 'UserRenamed'")
            .await
            .unwrap();
        app.user_eventually(after["user"]["id"].as_str().unwrap(), after["consistencyToken"].as_str().unwrap()).await;
        let status = cqrs_users::projections::status(&app.write_db, &app.read_db).await.unwrap();
        assert_eq!(status.last_error, None);
        assert_eq!(app.user(&id.to_string(), None).await["name"], "Ada R");
    }
}

/// The database going away and coming back (PostgreSQL, through a proxy the test cuts): requests
/// fail fast with SERVICE_UNAVAILABLE, /readyz says not ready, and everything recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_fails_fast_and_recovers() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let Backend::Postgres(admin_url) = &backend else {
        unreachable!()
    };
    let (_, target) = route_through(admin_url, 0);
    let proxy = Proxy::start(target).await;
    let port = proxy.port;
    let app = spawn_app_routed(backend, &[], move |url| route_through(url, port).0).await;
    app.create_user("Before", "before@example.com").await;

    proxy.cut();
    let started = Instant::now();
    let body = app
        .graphql(
            CREATE_USER,
            json!({ "input": { "name": "During", "email": "during@example.com" } }),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body:#}");
    assert!(
        !body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("5432")
    );
    eprintln!("a write during the outage failed after {elapsed:?}");
    let body = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body:#}");
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        app.write_counts().await,
        (1, 1),
        "nothing was written during the outage"
    );

    proxy.restore();
    let started = Instant::now();
    let created = loop {
        let body = app
            .graphql(
                CREATE_USER,
                json!({ "input": { "name": "After", "email": "after@example.com" } }),
            )
            .await;
        if body.get("errors").is_none() {
            break body["data"]["createUser"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no recovery: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "writes recovered {:?} after the database came back",
        started.elapsed()
    );
    let user = app
        .user(
            created["user"]["id"].as_str().unwrap(),
            created["consistencyToken"].as_str(),
        )
        .await;
    assert_eq!(user["name"], "After", "the projector resumed");
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_no_errors(&app.graphql("{ users { totalCount } }", json!({})).await);
}

/// A command stuck behind a lock held outside the service (a psql session holding the user's row)
/// gives up after the lock limit, or after the statement limit when that is the one set, with
/// SERVICE_UNAVAILABLE and no SQL in the message; nothing is written, the server keeps answering,
/// and the same rename goes through once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_stuck_behind_a_foreign_lock_gives_up_unavailable() {
    use sea_orm::{DbBackend, Statement, TransactionTrait};
    let Some(backend) = Backend::postgres() else {
        eprintln!(
            "TEST_DATABASE_URL is not set: skipped (SQLite has one writer and a busy timeout)"
        );
        return;
    };
    let limits = [
        [
            "--db-lock-timeout-ms",
            "300",
            "--db-statement-timeout-ms",
            "0",
        ],
        [
            "--db-lock-timeout-ms",
            "0",
            "--db-statement-timeout-ms",
            "300",
        ],
    ];
    for flags in limits {
        let app = crate::helpers::spawn_app_with(backend.clone(), &flags).await;
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap().to_owned();
        let uuid: uuid::Uuid = id.parse().unwrap();
        let holder = app.write_db.begin().await.unwrap();
        holder
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id FROM users WHERE id = $1 FOR UPDATE",
                [uuid.into()],
            ))
            .await
            .unwrap();

        let rename = json!({ "input": { "id": id, "name": "Stuck" } });
        let body = app.graphql(UPDATE_USER_NAME, rename.clone()).await;
        assert_eq!(
            error_code(&body),
            "SERVICE_UNAVAILABLE",
            "{flags:?}: {body:#}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            !message.contains("lock") && !message.contains("statement"),
            "{message}"
        );
        assert_eq!(app.write_counts().await, (1, 1), "nothing was written");
        assert_no_errors(&app.graphql("{ users { totalCount } }", json!({})).await);

        holder.rollback().await.unwrap();
        let body = app.graphql(UPDATE_USER_NAME, rename).await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["updateUserName"]["user"]["name"], "Stuck");
    }
}

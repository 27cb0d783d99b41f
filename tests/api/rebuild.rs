//! `projections rebuild` and `projections status`: a rebuilt view equals the incremental one, and
//! reads and writes go on while it runs.

use std::time::Duration;

use cqrs_users::entities::{users_view, users_view_stats};
use cqrs_users::projections;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, Statement};
use serde_json::json;

use crate::each_backend;
use crate::helpers::{
    DELETE_USER, TestApp, UPDATE_USER_NAME, USERS, assert_no_errors, assert_projected_exactly_once,
};

/// Every column of the view, ordinals included, and the maintained counts.
async fn view(app: &TestApp) -> (Vec<users_view::Model>, users_view_stats::Model) {
    let rows = users_view::Entity::find()
        .order_by_asc(users_view::Column::Ordinal)
        .all(&app.read_db)
        .await
        .unwrap();
    let stats = users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
        .one(&app.read_db)
        .await
        .unwrap()
        .unwrap();
    (rows, stats)
}

/// Creates, renames and deletes; returns the token of the last write.
async fn history(app: &TestApp, tag: &str) -> String {
    let mut token = String::new();
    for i in 0..12 {
        let created = app
            .create_user(&format!("{tag} {i}"), &format!("{tag}{i}@example.com"))
            .await;
        let id = created["user"]["id"].clone();
        token = created["consistencyToken"].as_str().unwrap().to_owned();
        if i % 3 == 1 {
            let body = app
                .graphql(
                    UPDATE_USER_NAME,
                    json!({ "input": { "id": id, "name": format!("{tag} renamed {i}") } }),
                )
                .await;
            assert_no_errors(&body);
            token = body["data"]["updateUserName"]["consistencyToken"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        if i % 4 == 2 {
            let body = app
                .graphql(DELETE_USER, json!({ "input": { "id": id } }))
                .await;
            assert_no_errors(&body);
            token = body["data"]["deleteUser"]["consistencyToken"]
                .as_str()
                .unwrap()
                .to_owned();
        }
    }
    token
}

each_backend! {
    /// The rebuilt view (rows, ordinals, counts, checkpoint) equals the incrementally built one.
    async fn rebuilt_view_equals_the_incremental_one(app) {
        let token = history(&app, "a").await;
        app.graphql(USERS, json!({ "page": 1, "pageSize": 1, "consistencyToken": token })).await;
        let incremental = view(&app).await;
        let checkpoint = projections::load_checkpoint(&app.read_db).await.unwrap();

        let report = projections::rebuild(&app.write_db, &app.read_db, 7, Duration::from_secs(2), false).await.unwrap();
        assert_eq!(report.checkpoint, checkpoint);
        assert_eq!(report.users, incremental.1.user_count);
        assert_eq!(view(&app).await, incremental);

        // The running projector resumes after the rebuild.
        let token = history(&app, "b").await;
        let body = app.graphql(USERS, json!({ "page": 1, "pageSize": 100, "consistencyToken": token })).await;
        assert_no_errors(&body);
        app.converge(Duration::from_secs(10)).await;
    }
}

each_backend! {
    /// Reads and writes are served while a rebuild runs; afterwards both models agree.
    async fn serves_while_rebuilding(app) {
        history(&app, "a").await;
        let rebuild = projections::rebuild(&app.write_db, &app.read_db, 2, Duration::from_secs(2), false);
        let traffic = async {
            join_all((0..20).map(|i| {
                let app = &app;
                async move {
                    let created = app.create_user(&format!("During {i}"), &format!("during{i}@example.com")).await;
                    let body = app.graphql(USERS, json!({ "page": 1, "pageSize": 5 })).await;
                    assert_no_errors(&body);
                    created
                }
            }))
            .await
        };
        let (rebuilt, _) = tokio::join!(rebuild, traffic);
        rebuilt.unwrap();
        app.converge(Duration::from_secs(15)).await;
        let (rows, stats) = view(&app).await;
        assert_eq!(stats.user_count as usize, rows.len());
        let ordinals: Vec<i64> = rows.iter().map(|r| r.ordinal).collect();
        let mut unique = ordinals.clone();
        unique.dedup();
        assert_eq!(ordinals, unique);
    }
}

each_backend! {
    /// The CLI: `projections status` shows checkpoint, head, lag and leader; `rebuild` reports.
    async fn cli_status_and_rebuild(app) {
        let token = history(&app, "a").await;
        app.graphql(USERS, json!({ "page": 1, "pageSize": 1, "consistencyToken": token })).await;
        let cli = |args: &[&str]| {
            let output = crate::helpers::binary()
                .args(["--database-url", app.config.write_database_url(), "--read-database-url", app.config.read_database_url()])
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap()
        };
        let rebuilt = cli(&["projections", "rebuild"]);
        assert!(rebuilt.contains("rebuilt users_view"), "{rebuilt}");
        let status = cli(&["projections", "status"]);
        assert!(status.contains("lag         0 events"), "{status}");
        assert!(status.contains("state       ok"), "{status}");
        let head = cqrs_users::events::head(&app.write_db).await.unwrap();
        assert!(status.contains(&format!("log head    {head}")), "{status}");
        assert!(status.contains("leader      "), "{status}");
    }
}

/// Runs one statement on the write database with `?` or `$n` placeholders as the engine wants.
async fn on_write_db(app: &TestApp, sqlite: &str, postgres: &str, values: Vec<sea_orm::Value>) {
    let backend = app.write_db.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        postgres
    } else {
        sqlite
    };
    app.write_db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect(sql);
}

each_backend! {
    /// A log holding one user's versions out of order (as the service wrote them before commands
    /// took their turns) stops strict live apply, visibly; `projections rebuild` applies each
    /// user's events in version order, repairs the view, and projection goes on.
    async fn rebuild_repairs_a_view_stopped_by_versions_out_of_order(app, flags = ["--consistency-timeout-ms", "500"]) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id: uuid::Uuid = created["user"]["id"].as_str().unwrap().parse().unwrap();
        app.user_eventually(&id.to_string(), created["consistencyToken"].as_str().unwrap()).await;
        // Versions 3 then 2 in log order, and the write model at version 3.
        for (version, previous, new) in [(3, "Ada B", "Ada C"), (2, "Ada", "Ada B")] {
            let payload = json!({ "type": "UserRenamed", "previous_name": previous, "new_name": new }).to_string();
            on_write_db(
                &app,
                "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) VALUES (?, ?, 'UserRenamed', ?, '2026-01-01T00:00:00Z')",
                "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) VALUES ($1, $2, 'UserRenamed', $3::jsonb, now())",
                vec![id.into(), version.into(), payload.into()],
            )
            .await;
        }
        on_write_db(&app, "UPDATE users SET name = 'Ada C', version = 3 WHERE id = ?", "UPDATE users SET name = 'Ada C', version = 3 WHERE id = $1", vec![id.into()]).await;

        let started = std::time::Instant::now();
        let reason = loop {
            let status = projections::status(&app.write_db, &app.read_db).await.unwrap();
            if let Some(reason) = status.last_error {
                break reason;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the failure was never recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(reason.contains("does not fit") && reason.contains("projections rebuild"), "{reason}");

        let report = projections::rebuild(&app.write_db, &app.read_db, 2, Duration::from_secs(2), false).await.unwrap();
        assert_eq!(report.events, 3);
        let (rows, stats) = view(&app).await;
        assert_eq!((rows[0].name.as_str(), rows[0].version, stats.user_count), ("Ada C", 3, 1));
        let after = app.create_user("Bob", "bob@example.com").await;
        let bob = app.user_eventually(after["user"]["id"].as_str().unwrap(), after["consistencyToken"].as_str().unwrap()).await;
        assert_eq!(bob["name"], "Bob");
        let status = projections::status(&app.write_db, &app.read_db).await.unwrap();
        assert_eq!(status.last_error, None);
    }
}

each_backend! {
    /// A log that lost its last events (a restored backup, a crash): the server refuses to start
    /// on a checkpoint ahead of it, `projections rebuild` refuses to go behind the checkpoint, and
    /// `projections rebuild --accept-lost-events`, the repair the error names, lets it start again.
    async fn a_checkpoint_ahead_of_the_log_is_refused_until_rebuilt(mut app) {
        history(&app, "a").await;
        let last = app.create_user("Last", "last@example.com").await;
        app.user_eventually(last["user"]["id"].as_str().unwrap(), last["consistencyToken"].as_str().unwrap()).await;
        app.stop().await;
        let id: uuid::Uuid = last["user"]["id"].as_str().unwrap().parse().unwrap();
        on_write_db(&app, "DELETE FROM user_events WHERE user_id = ?", "DELETE FROM user_events WHERE user_id = $1", vec![id.into()]).await;
        on_write_db(&app, "DELETE FROM users WHERE id = ?", "DELETE FROM users WHERE id = $1", vec![id.into()]).await;
        let before = view(&app).await;

        let refused = match cqrs_users::startup::Application::build(&app.config).await {
            Ok(_) => panic!("the server started on a checkpoint ahead of its log"),
            Err(err) => format!("{err:#}"),
        };
        assert!(refused.contains("ahead of the event log"), "{refused}");
        assert!(refused.contains("projections rebuild --accept-lost-events"), "{refused}");

        let cli = |args: &[&str]| {
            crate::helpers::binary()
                .args(["--database-url", app.config.write_database_url(), "--read-database-url", app.config.read_database_url()])
                .args(args)
                .output()
                .unwrap()
        };
        let behind = cli(&["projections", "rebuild"]);
        assert!(!behind.status.success());
        let said = String::from_utf8_lossy(&behind.stderr);
        assert!(said.contains("behind the live checkpoint") && said.contains("--accept-lost-events"), "{said}");
        assert_eq!(view(&app).await, before, "a refused rebuild changes nothing");

        let repaired = cli(&["projections", "rebuild", "--accept-lost-events"]);
        assert!(repaired.status.success(), "{}", String::from_utf8_lossy(&repaired.stderr));
        app.start().await;
        app.converge(Duration::from_secs(10)).await;
        let again = app.create_user("Again", "last@example.com").await;
        let user = app.user_eventually(again["user"]["id"].as_str().unwrap(), again["consistencyToken"].as_str().unwrap()).await;
        assert_eq!(user["name"], "Again");
        assert_projected_exactly_once(&app).await;
    }
}

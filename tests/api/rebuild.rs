//! `projections rebuild` and `projections status`: a rebuilt view equals the incremental one, and
//! reads and writes go on while it runs.

use std::process::Output;
use std::time::Duration;

use cqrs_users::projections;
use futures::future::join_all;
use serde_json::json;

use crate::helpers::{Backend, TestApp, both_engines, eventually, spawn_app, spawn_app_with};

/// The lease a rebuild takes from the running projector.
const LEASE: Duration = Duration::from_secs(2);

/// The rebuilt view (rows, ordinals, counts, checkpoint) equals the incrementally built one.
async fn rebuilt_view_equals_the_incremental_one(backend: Backend) {
    let app = spawn_app(backend).await;
    history(&app, "a").await;
    app.converge(Duration::from_secs(10)).await;
    let incremental = app.view().await;
    let checkpoint = projections::load_checkpoint(&app.read_db).await.unwrap();

    let report = projections::rebuild(&app.write_db, &app.read_db, 7, LEASE, false).await;
    let report = report.unwrap();
    assert_eq!(report.checkpoint, checkpoint);
    assert_eq!(report.users, incremental.1.user_count);
    assert_eq!(app.view().await, incremental);

    // The running projector resumes after the rebuild.
    let token = history(&app, "b").await;
    app.users(1, 100, Some(&token)).await.ok();
    app.converge(Duration::from_secs(10)).await;
}

/// Reads and writes are served while a rebuild runs; afterwards both models agree.
async fn serves_while_rebuilding(backend: Backend) {
    let app = spawn_app(backend).await;
    history(&app, "a").await;
    let traffic = join_all((0..20).map(|i| {
        let app = &app;
        async move {
            let (name, email) = (format!("During {i}"), format!("during{i}@example.com"));
            let created = app.create_user(&name, &email).await;
            app.users(1, 5, None).await.ok();
            created
        }
    }));
    let rebuild = projections::rebuild(&app.write_db, &app.read_db, 2, LEASE, false);
    let (rebuilt, _) = tokio::join!(rebuild, traffic);
    rebuilt.unwrap();
    app.converge(Duration::from_secs(15)).await;
    let (rows, stats) = app.view().await;
    assert_eq!(stats.user_count as usize, rows.len());
    let ordinals: Vec<i64> = rows.iter().map(|r| r.ordinal).collect();
    let mut unique = ordinals.clone();
    unique.dedup();
    assert_eq!(ordinals, unique);
}

/// The CLI: `projections status` shows checkpoint, head, lag and leader; `rebuild` reports.
async fn cli_status_and_rebuild(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = history(&app, "a").await;
    app.users(1, 1, Some(&token)).await;
    let cli = |args: &[&str]| {
        let output = projections_cli(&app, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        String::from_utf8(output.stdout).unwrap()
    };
    let rebuilt = cli(&["rebuild"]);
    assert!(rebuilt.contains("rebuilt users_view"), "{rebuilt}");
    let status = cli(&["status"]);
    assert!(status.contains("lag         0 events"), "{status}");
    assert!(status.contains("state       ok"), "{status}");
    let head = cqrs_users::events::head(&app.write_db).await.unwrap();
    assert!(status.contains(&format!("log head    {head}")), "{status}");
    assert!(status.contains("leader      "), "{status}");
}

/// A log holding one user's versions out of order (as the service wrote them before commands
/// took their turns) stops strict live apply, visibly; `projections rebuild` applies each
/// user's events in version order, repairs the view, and projection goes on.
async fn rebuild_repairs_a_view_stopped_by_versions_out_of_order(backend: Backend) {
    let app = spawn_app_with(backend, &["--consistency-timeout-ms", "500"]).await;
    let ada = app.create_and_read("Ada", "ada@example.com").await;
    let id: uuid::Uuid = ada.id.parse().unwrap();
    // Versions 3 then 2 in log order, and the write model at version 3.
    for (version, previous, new) in [(3, "Ada B", "Ada C"), (2, "Ada", "Ada B")] {
        let payload = json!({ "type": "UserRenamed", "previous_name": previous, "new_name": new });
        app.execute_on_write_db(
            "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) \
             VALUES (?, ?, 'UserRenamed', ?, '2026-01-01T00:00:00Z')",
            "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) \
             VALUES ($1, $2, 'UserRenamed', $3::jsonb, now())",
            vec![id.into(), version.into(), payload.to_string().into()],
        )
        .await;
    }
    app.execute_on_write_db(
        "UPDATE users SET name = 'Ada C', version = 3 WHERE id = ?",
        "UPDATE users SET name = 'Ada C', version = 3 WHERE id = $1",
        vec![id.into()],
    )
    .await;

    let reason = app.projection_failure().await.last_error.unwrap();
    let names_it = reason.contains("does not fit") && reason.contains("projections rebuild");
    assert!(names_it, "{reason}");

    let report = projections::rebuild(&app.write_db, &app.read_db, 2, LEASE, false).await;
    let report = report.unwrap();
    assert_eq!(report.events, 3);
    let (rows, stats) = app.view().await;
    let repaired = (rows[0].name.as_str(), rows[0].version, stats.user_count);
    assert_eq!(repaired, ("Ada C", 3, 1));
    let bob = app.create_and_read("Bob", "bob@example.com").await;
    assert_eq!(bob.name, "Bob");
    assert_eq!(app.projection_status().await.last_error, None);
}

/// A log that lost its last events (a restored backup, a crash): the server refuses to start
/// on a checkpoint ahead of it, `projections rebuild` refuses to go behind the checkpoint, and
/// `projections rebuild --accept-lost-events`, the repair the error names, lets it start again.
async fn a_checkpoint_ahead_of_the_log_is_refused_until_rebuilt(backend: Backend) {
    let mut app = spawn_app(backend).await;
    history(&app, "a").await;
    let last = app.create_and_read("Last", "last@example.com").await;
    // Read back maybe from the in-memory model: wait for the projector to apply it too.
    app.converge(Duration::from_secs(10)).await;
    app.stop().await;
    let id: uuid::Uuid = last.id.parse().unwrap();
    for table in ["user_events WHERE user_id", "users WHERE id"] {
        app.execute_on_write_db(
            &format!("DELETE FROM {table} = ?"),
            &format!("DELETE FROM {table} = $1"),
            vec![id.into()],
        )
        .await;
    }
    let before = app.view().await;

    let refused = match cqrs_users::startup::Application::build(&app.config).await {
        Ok(_) => panic!("the server started on a checkpoint ahead of its log"),
        Err(err) => format!("{err:#}"),
    };
    assert!(refused.contains("ahead of the event log"), "{refused}");
    let repair = "projections rebuild --accept-lost-events";
    assert!(refused.contains(repair), "{refused}");

    let behind = projections_cli(&app, &["rebuild"]);
    assert!(!behind.status.success());
    let said = String::from_utf8_lossy(&behind.stderr);
    let explains =
        said.contains("behind the live checkpoint") && said.contains("--accept-lost-events");
    assert!(explains, "{said}");
    assert_eq!(
        app.view().await,
        before,
        "a refused rebuild changes nothing"
    );

    let repaired = projections_cli(&app, &["rebuild", "--accept-lost-events"]);
    let stderr = String::from_utf8_lossy(&repaired.stderr);
    assert!(repaired.status.success(), "{stderr}");
    app.start().await;
    app.converge(Duration::from_secs(10)).await;
    let user = app.create_and_read("Again", "last@example.com").await;
    assert_eq!(user.name, "Again");
    app.converge_exactly_once(Duration::from_secs(10)).await;
}

/// A rebuild takes the lease from the running server for its swap and hands it back: the
/// server says so as a hand-over (no warning of a lost lease), `status` never calls it a
/// failure, and the server takes the lease back and projects on.
async fn a_rebuild_hands_the_lease_over_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = history(&app, "a").await;
    app.users(1, 1, Some(&token)).await.ok();
    let rebuilt = projections_cli(&app, &["rebuild"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );

    let back = format!("leader      {} (lease:", app.instance_id());
    eventually(
        Duration::from_secs(10),
        "the server to lead again",
        async || {
            let status = String::from_utf8(projections_cli(&app, &["status"]).stdout).unwrap();
            let says = status.contains(&back) || status.contains("handed");
            assert!(says, "status of a hand-over: {status}");
            status.contains(&back).then_some(()).ok_or(status)
        },
    )
    .await;
    let token = history(&app, "b").await;
    app.users(1, 1, Some(&token)).await.ok();
    let logs = app.logs();
    assert!(logs.contains("handed to a rebuild"), "{logs}");
    let warned = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("lease"));
    assert_eq!(warned.collect::<Vec<_>>(), Vec::<&str>::new());
}

/// Creates, renames and deletes; returns the token of the last write.
async fn history(app: &TestApp, tag: &str) -> String {
    let mut token = String::new();
    for i in 0..12 {
        let (name, email) = (format!("{tag} {i}"), format!("{tag}{i}@example.com"));
        let created = app.create_user(&name, &email).await;
        let id = created.user.id.as_str();
        token = created.consistency_token;
        if i % 3 == 1 {
            let renamed = format!("{tag} renamed {i}");
            token = app
                .update_user_name(id, &renamed, None)
                .await
                .ok()
                .consistency_token;
        }
        if i % 4 == 2 {
            token = app.delete_user(id, None).await.ok().consistency_token;
        }
    }
    token
}

/// `cqrs-users projections <args>` on the app's databases.
fn projections_cli(app: &TestApp, args: &[&str]) -> Output {
    let mut command = app.binary();
    command.arg("projections").args(args).output().unwrap()
}

both_engines!(
    rebuilt_view_equals_the_incremental_one,
    serves_while_rebuilding,
    cli_status_and_rebuild,
    rebuild_repairs_a_view_stopped_by_versions_out_of_order,
    a_checkpoint_ahead_of_the_log_is_refused_until_rebuilt,
    a_rebuild_hands_the_lease_over_and_back,
);

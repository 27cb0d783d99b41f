//! Restarts: a server stopped (gracefully or abruptly) while projecting resumes where it stopped.

use std::time::Duration;

use cqrs_users::{events, projections};
use futures::future::join_all;

use crate::helpers::{Backend, both_engines, spawn_app, spawn_app_with};

/// Killed while the projector lags (one event per batch), then started again: the read model
/// converges to the write model with every event applied once.
async fn converges_after_a_kill_during_projection(backend: Backend) {
    let mut app = spawn_app_with(backend, &["--projector-batch-size", "1"]).await;
    for round in 0..3 {
        let writes = (0..40).map(|i| {
            let app = &app;
            async move {
                let (name, email) = (
                    format!("R{round} U{i}"),
                    format!("r{round}u{i}@example.com"),
                );
                let created = app.create_user(&name, &email).await;
                let new_name = format!("R{round} Renamed {i}");
                app.update_user_name(&created.user.id, &new_name, None)
                    .await
                    .ok();
            }
        });
        join_all(writes).await;
        app.kill().await;
        let checkpoint = projections::load_checkpoint(&app.read_db).await.unwrap();
        let head = events::head(&app.write_db).await.unwrap();
        eprintln!("round {round}: killed at checkpoint {checkpoint}, log head {head}");
        app.start().await;
    }
    let rows = app.converge(Duration::from_secs(30)).await;
    assert_eq!(rows.len(), 120);
    assert!(
        rows.iter()
            .all(|u| u.version == 2 && u.name.contains("Renamed"))
    );
    let page = app.users(1, 1, None).await.ok();
    assert_eq!(page.total_count, 120);
    let checkpoint = projections::load_checkpoint(&app.read_db).await.unwrap();
    assert_eq!(checkpoint, events::head(&app.write_db).await.unwrap());
}

/// A graceful stop finishes cleanly; after a start on the same databases, users and tokens
/// still work.
async fn survives_a_graceful_restart(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    app.stop().await;
    app.start().await;
    let token = Some(created.consistency_token.as_str());
    let user = app.user(&created.user.id, token).await.ok();
    assert_eq!(user.email, "ada@example.com");
    let again = app.create_user("Bob", "bob@example.com").await;
    assert!(again.consistency_token > created.consistency_token);
}

both_engines!(
    converges_after_a_kill_during_projection,
    survives_a_graceful_restart
);

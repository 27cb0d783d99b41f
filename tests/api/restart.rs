//! Restarts: a server stopped (gracefully or abruptly) while projecting resumes where it stopped.

use std::time::Duration;

use cqrs_users::{events, projections};
use futures::future::join_all;
use serde_json::json;

use crate::each_backend;
use crate::helpers::{UPDATE_USER_NAME, assert_no_errors};

each_backend! {
    /// Killed while the projector lags (one event per batch), then started again: the read model
    /// converges to the write model with every event applied once.
    async fn converges_after_a_kill_during_projection(mut app, flags = ["--projector-batch-size", "1"]) {
        for round in 0..3 {
            let writes = (0..40).map(|i| {
                let app = &app;
                async move {
                    let created = app.create_user(&format!("R{round} U{i}"), &format!("r{round}u{i}@example.com")).await;
                    let body = app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": created["user"]["id"], "name": format!("R{round} Renamed {i}") } })).await;
                    assert_no_errors(&body);
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
        assert!(rows.iter().all(|u| u.version == 2 && u.name.contains("Renamed")));
        let body = app.graphql("{ users(pageSize: 1) { totalCount } }", json!({})).await;
        assert_eq!(body["data"]["users"]["totalCount"], 120);
        let checkpoint = projections::load_checkpoint(&app.read_db).await.unwrap();
        assert_eq!(checkpoint, events::head(&app.write_db).await.unwrap());
    }
}

each_backend! {
    /// A graceful stop finishes cleanly; after a start on the same databases, users and tokens still work.
    async fn survives_a_graceful_restart(mut app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        app.stop().await;
        app.start().await;
        let user = app.user(created["user"]["id"].as_str().unwrap(), created["consistencyToken"].as_str()).await;
        assert_eq!(user["email"], "ada@example.com");
        let again = app.create_user("Bob", "bob@example.com").await;
        assert!(again["consistencyToken"].as_str() > created["consistencyToken"].as_str());
    }
}

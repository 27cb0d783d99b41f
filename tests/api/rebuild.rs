//! `projections rebuild` and `projections status`: a rebuilt view equals the incremental one, and
//! reads and writes go on while it runs.

use std::time::Duration;

use cqrs_users::entities::{users_view, users_view_stats};
use cqrs_users::projections;
use futures::future::join_all;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::each_backend;
use crate::helpers::{DELETE_USER, TestApp, UPDATE_USER_NAME, USERS, assert_no_errors};

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

        let report = projections::rebuild(&app.write_db, &app.read_db, 7, Duration::from_secs(2)).await.unwrap();
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
        let rebuild = projections::rebuild(&app.write_db, &app.read_db, 2, Duration::from_secs(2));
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

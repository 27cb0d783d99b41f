//! Consistency tokens: a read with a token waits for the projector, bounded; without one it answers at once.

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::each_backend;
use crate::helpers::{USERS, error_code};

each_backend! {
    /// With the projector held back, a token read answers CONSISTENCY_TIMEOUT (never older data),
    /// a read without a token answers from what is projected, and once the projector moves on the
    /// same token reads the write.
    async fn token_reads_wait_then_time_out_never_stale(app, flags = ["--consistency-timeout-ms", "400"]) {
        let first = app.create_user("First", "first@example.com").await;
        app.user_eventually(first["user"]["id"].as_str().unwrap(), first["consistencyToken"].as_str().unwrap()).await;

        // Hold the lock the projector needs to commit a batch (the counts row of the read model).
        let hold = app.read_db.begin().await.unwrap();
        hold.execute_unprepared("UPDATE users_view_stats SET user_count = user_count WHERE id = 1")
            .await
            .unwrap();

        let second = app.create_user("Second", "second@example.com").await;
        let id = second["user"]["id"].as_str().unwrap();
        let token = second["consistencyToken"].as_str().unwrap();

        let body = app.graphql(crate::helpers::USER, json!({ "id": id, "consistencyToken": token })).await;
        assert_eq!(error_code(&body), "CONSISTENCY_TIMEOUT");
        assert!(body["data"]["user"].is_null(), "stale data answered: {body:#}");
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["consistencyToken"], token);
        assert_eq!(extensions["writeCommitted"], true);

        let body = app.graphql(USERS, json!({ "page": 1, "pageSize": 10, "consistencyToken": token })).await;
        assert_eq!(error_code(&body), "CONSISTENCY_TIMEOUT");

        let body = app.graphql(USERS, json!({ "page": 1, "pageSize": 10 })).await;
        assert_eq!(body["data"]["users"]["totalCount"], 1, "without a token: what is projected");
        let body = app.graphql(crate::helpers::USER, json!({ "id": id })).await;
        assert_eq!(error_code(&body), "NOT_FOUND");

        hold.rollback().await.unwrap();
        let user = app.user_eventually(id, token).await;
        assert_eq!(user["name"], "Second");
    }
}

//! deleteUser: removes the user from both models; rejected deletes write nothing.

use serde_json::json;

use crate::each_backend;
use crate::helpers::{DELETE_USER, assert_no_errors, error_code};

each_backend! {
    /// After a delete, reading with its token finds nothing and the total drops.
    async fn deletes_from_the_read_model(app) {
        let keep = app.create_user("Keep", "keep@example.com").await;
        let gone = app.create_user("Gone", "gone@example.com").await;
        let id = gone["user"]["id"].as_str().unwrap();
        let body = app.graphql(DELETE_USER, json!({ "input": { "id": id, "expectedVersion": 1 } })).await;
        assert_no_errors(&body);
        let payload = &body["data"]["deleteUser"];
        assert_eq!(payload["deletedUserId"], id);
        let token = payload["consistencyToken"].as_str().unwrap();

        let body = app.graphql(crate::helpers::USER, json!({ "id": id, "consistencyToken": token })).await;
        assert!(body["data"]["user"].is_null());
        assert_eq!(error_code(&body), "NOT_FOUND");
        let body = app
            .graphql(crate::helpers::USERS, json!({ "page": 1, "pageSize": 10, "consistencyToken": token }))
            .await;
        assert_eq!(body["data"]["users"]["totalCount"], 1);
        assert_eq!(body["data"]["users"]["items"][0]["id"], keep["user"]["id"]);
        assert_eq!(app.write_counts().await, (1, 3), "the log keeps the deleted user's history");
    }
}

each_backend! {
    /// Deleting twice, or an unknown id, is NOT_FOUND; a stale version is CONFLICT; nothing is written.
    async fn rejects_missing_users_and_stale_versions(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap();
        let body = app.graphql(DELETE_USER, json!({ "input": { "id": id, "expectedVersion": 3 } })).await;
        assert_eq!(error_code(&body), "CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["expectedVersion"], 3);
        assert_eq!(body["errors"][0]["extensions"]["actualVersion"], 1);
        assert_eq!(app.write_counts().await, (1, 1));

        assert_no_errors(&app.graphql(DELETE_USER, json!({ "input": { "id": id } })).await);
        let body = app.graphql(DELETE_USER, json!({ "input": { "id": id } })).await;
        assert_eq!(error_code(&body), "NOT_FOUND");
        let body = app.graphql(DELETE_USER, json!({ "input": { "id": "not-an-id" } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert_eq!(app.write_counts().await, (0, 2));
    }
}

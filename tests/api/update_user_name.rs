//! updateUserName: renames with optimistic concurrency; rejected renames write nothing.

use serde_json::json;

use crate::each_backend;
use crate::helpers::{UPDATE_USER_NAME, assert_no_errors, error_code};

each_backend! {
    /// A rename bumps the version and the read model follows (read-your-writes via the token).
    async fn renames_and_bumps_the_version(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap();
        let body = app
            .graphql(UPDATE_USER_NAME, json!({ "input": { "id": id, "name": " Ada King ", "expectedVersion": 1 } }))
            .await;
        assert_no_errors(&body);
        let payload = &body["data"]["updateUserName"];
        assert_eq!(payload["user"]["name"], "Ada King");
        assert_eq!(payload["user"]["version"], 2);
        let token = payload["consistencyToken"].as_str().unwrap();
        assert!(token > created["consistencyToken"].as_str().unwrap(), "tokens follow the log order");

        let user = app.user(id, Some(token)).await;
        assert_eq!(user["name"], "Ada King");
        assert_eq!(user["version"], 2);
        assert_eq!(user["updatedAt"], payload["user"]["updatedAt"]);
        assert_eq!(user["createdAt"], created["user"]["createdAt"]);
        assert_eq!(app.write_counts().await, (1, 2));
    }
}

each_backend! {
    /// A stale expectedVersion is CONFLICT with both versions in the extensions; nothing changes.
    async fn rejects_a_stale_expected_version(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap();
        app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": id, "name": "Second" } })).await;
        let body = app
            .graphql(UPDATE_USER_NAME, json!({ "input": { "id": id, "name": "Third", "expectedVersion": 1 } }))
            .await;
        assert_eq!(error_code(&body), "CONFLICT");
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["expectedVersion"], 1);
        assert_eq!(extensions["actualVersion"], 2);
        assert_eq!(app.write_counts().await, (1, 2));
        let token = app.create_user("Probe", "probe@example.com").await["consistencyToken"].clone();
        assert_eq!(app.user(id, token.as_str()).await["name"], "Second");
    }
}

each_backend! {
    /// Renaming a user that does not exist is NOT_FOUND; a malformed id or name is BAD_USER_INPUT.
    async fn rejects_unknown_users_and_bad_input(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap();
        let missing = "01900000-0000-7000-8000-000000000000";
        let body = app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": missing, "name": "X" } })).await;
        assert_eq!(error_code(&body), "NOT_FOUND");
        let body = app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": "42", "name": "X" } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let body = app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": id, "name": " " } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "name");
        assert_eq!(app.write_counts().await, (1, 1), "rejected renames wrote something");
    }
}

each_backend! {
    /// Renaming to the current name is not a change: same version, no event, a usable token.
    async fn renaming_to_the_same_name_changes_nothing(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap();
        let body = app.graphql(UPDATE_USER_NAME, json!({ "input": { "id": id, "name": "Ada " } })).await;
        assert_no_errors(&body);
        let payload = &body["data"]["updateUserName"];
        assert_eq!(payload["user"]["version"], 1);
        assert_eq!(payload["consistencyToken"], created["consistencyToken"]);
        assert_eq!(app.write_counts().await, (1, 1));
    }
}

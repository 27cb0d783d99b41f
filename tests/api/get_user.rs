//! user(id): reads the read model; null plus NOT_FOUND when absent; bad ids and tokens are BAD_USER_INPUT.

use serde_json::json;

use crate::each_backend;
use crate::helpers::{USER, error_code};

each_backend! {
    /// With the token of its creation, the user is readable at once and equals the payload.
    async fn reads_its_own_write(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let id = created["user"]["id"].as_str().unwrap();
        let user = app.user(id, created["consistencyToken"].as_str()).await;
        assert_eq!(user, created["user"]);
    }
}

each_backend! {
    /// An unknown id is `null` plus NOT_FOUND; a malformed id or token is BAD_USER_INPUT.
    async fn answers_null_with_an_error_code(app) {
        let body = app.graphql(USER, json!({ "id": "01900000-0000-7000-8000-000000000000" })).await;
        assert!(body["data"].as_object().unwrap().contains_key("user"), "{body:#}");
        assert!(body["data"]["user"].is_null());
        assert_eq!(error_code(&body), "NOT_FOUND");
        assert_eq!(body["errors"][0]["path"], json!(["user"]));

        let body = app.graphql(USER, json!({ "id": "1" })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let body = app
            .graphql(USER, json!({ "id": "01900000-0000-7000-8000-000000000000", "consistencyToken": "yesterday" }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "consistencyToken");
    }
}

//! user(id): reads the read model; null plus NOT_FOUND when absent; bad ids and tokens are
//! BAD_USER_INPUT.

use serde_json::json;

use crate::helpers::{Backend, both_engines, spawn_app};

/// With the token of its creation, the user is readable at once and equals the payload.
async fn reads_its_own_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let token = Some(created.consistency_token.as_str());
    let user = app.user(&created.user.id, token).await.ok();
    assert_eq!(user, created.user);
}

/// An unknown id is `null` plus NOT_FOUND; a malformed id or token is BAD_USER_INPUT.
async fn answers_null_with_an_error_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let missing = "01900000-0000-7000-8000-000000000000";
    let answer = app.user(missing, None).await;
    let data = answer.body["data"].as_object().unwrap();
    assert!(data.contains_key("user"), "{answer}");
    assert!(answer.data.is_none());
    assert_eq!(answer.code(), "NOT_FOUND");
    assert_eq!(answer.error().path, json!(["user"]));

    assert_eq!(app.user("1", None).await.code(), "BAD_USER_INPUT");
    let answer = app.user(missing, Some("yesterday")).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    let field = answer.error().extensions.field.as_deref();
    assert_eq!(field, Some("consistencyToken"));
}

both_engines!(reads_its_own_write, answers_null_with_an_error_code);

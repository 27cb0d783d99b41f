//! updateUserName: renames with optimistic concurrency; rejected renames write nothing.

use crate::helpers::{Backend, both_engines, spawn_app};

/// A rename bumps the version and the read model follows (read-your-writes via the token).
async fn renames_and_bumps_the_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let id = created.user.id.as_str();
    let renamed = app.update_user_name(id, " Ada King ", Some(1)).await.ok();
    assert_eq!(renamed.user.name, "Ada King");
    assert_eq!(renamed.user.version, 2);
    let token = renamed.consistency_token.as_str();
    assert!(
        token > created.consistency_token.as_str(),
        "tokens follow the log order"
    );

    let user = app.user(id, Some(token)).await.ok();
    assert_eq!(user.name, "Ada King");
    assert_eq!(user.version, 2);
    assert_eq!(user.updated_at, renamed.user.updated_at);
    assert_eq!(user.created_at, created.user.created_at);
    assert_eq!(app.write_counts().await, (1, 2));
}

/// A stale expectedVersion is CONFLICT with both versions in the extensions; nothing changes.
async fn rejects_a_stale_expected_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let id = created.user.id.as_str();
    app.update_user_name(id, "Second", None).await;
    let answer = app.update_user_name(id, "Third", Some(1)).await;
    assert_eq!(answer.code(), "CONFLICT");
    let extensions = &answer.error().extensions;
    assert_eq!(extensions.expected_version, Some(1));
    assert_eq!(extensions.actual_version, Some(2));
    assert_eq!(app.write_counts().await, (1, 2));
    let probe = app.create_user("Probe", "probe@example.com").await;
    let user = app.user(id, Some(&probe.consistency_token)).await.ok();
    assert_eq!(user.name, "Second");
}

/// Renaming a user that does not exist is NOT_FOUND; a malformed id or name is BAD_USER_INPUT.
async fn rejects_unknown_users_and_bad_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let id = created.user.id.as_str();
    let missing = "01900000-0000-7000-8000-000000000000";
    let answer = app.update_user_name(missing, "X", None).await;
    assert_eq!(answer.code(), "NOT_FOUND");
    let answer = app.update_user_name("42", "X", None).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    let answer = app.update_user_name(id, " ", None).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(answer.error().extensions.field.as_deref(), Some("name"));
    let counts = app.write_counts().await;
    assert_eq!(counts, (1, 1), "rejected renames wrote something");
}

/// Renaming to the current name is not a change: same version, no event, a usable token.
async fn renaming_to_the_same_name_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let id = created.user.id.as_str();
    let renamed = app.update_user_name(id, "Ada ", None).await.ok();
    assert_eq!(renamed.user.version, 1);
    assert_eq!(renamed.consistency_token, created.consistency_token);
    assert_eq!(app.write_counts().await, (1, 1));
}

both_engines!(
    renames_and_bumps_the_version,
    rejects_a_stale_expected_version,
    rejects_unknown_users_and_bad_input,
    renaming_to_the_same_name_changes_nothing,
);

//! deleteUser: removes the user from both models; rejected deletes write nothing.

use crate::helpers::{Backend, both_engines, spawn_app};

/// After a delete, reading with its token finds nothing and the total drops.
async fn deletes_from_the_read_model(backend: Backend) {
    let app = spawn_app(backend).await;
    let keep = app.create_user("Keep", "keep@example.com").await;
    let gone = app.create_user("Gone", "gone@example.com").await;
    let id = gone.user.id.as_str();
    let deleted = app.delete_user(id, Some(1)).await.ok();
    assert_eq!(deleted.deleted_user_id, id);
    let token = Some(deleted.consistency_token.as_str());

    let answer = app.user(id, token).await;
    assert!(answer.data.is_none());
    assert_eq!(answer.code(), "NOT_FOUND");
    let page = app.users(1, 10, token).await.data.expect("a page");
    assert_eq!(page.total_count, 1);
    assert_eq!(page.items[0].id, keep.user.id);
    let counts = app.write_counts().await;
    assert_eq!(counts, (1, 3), "the log keeps the deleted user's history");
}

/// Deleting twice, or an unknown id, is NOT_FOUND; a stale version is CONFLICT; nothing is
/// written.
async fn rejects_missing_users_and_stale_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let id = created.user.id.as_str();
    let answer = app.delete_user(id, Some(3)).await;
    assert_eq!(answer.code(), "CONFLICT");
    assert_eq!(answer.error().extensions.expected_version, Some(3));
    assert_eq!(answer.error().extensions.actual_version, Some(1));
    assert_eq!(app.write_counts().await, (1, 1));

    app.delete_user(id, None).await.ok();
    assert_eq!(app.delete_user(id, None).await.code(), "NOT_FOUND");
    let answer = app.delete_user("not-an-id", None).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(app.write_counts().await, (0, 2));
}

both_engines!(
    deletes_from_the_read_model,
    rejects_missing_users_and_stale_versions,
);

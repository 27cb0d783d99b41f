//! Consistency tokens: a read with a token waits for the projector, bounded; without one it
//! answers at once.

use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::helpers::{Backend, both_engines, spawn_app_with};

/// With the projector held back (and no in-memory model), a token read answers CONSISTENCY_TIMEOUT (never older data),
/// a read without a token answers from what is projected, and once the projector moves on the
/// same token reads the write.
async fn token_reads_wait_then_time_out_never_stale(backend: Backend) {
    let flags = [
        "--consistency-timeout-ms",
        "400",
        "--read-model",
        "database",
    ];
    let app = spawn_app_with(backend, &flags).await;
    app.create_and_read("First", "first@example.com").await;

    // Hold the lock the projector needs to commit a batch (the counts row of the read model).
    let hold = app.read_db.begin().await.unwrap();
    hold.execute_unprepared("UPDATE users_view_stats SET user_count = user_count WHERE id = 1")
        .await
        .unwrap();

    let second = app.create_user("Second", "second@example.com").await;
    let id = second.user.id.as_str();
    let token = second.consistency_token.as_str();

    let answer = app.user(id, Some(token)).await;
    assert_eq!(answer.code(), "CONSISTENCY_TIMEOUT");
    assert!(answer.data.is_none(), "stale data answered: {answer}");
    let extensions = &answer.error().extensions;
    assert_eq!(extensions.consistency_token.as_deref(), Some(token));
    assert_eq!(extensions.write_committed, Some(true));

    let answer = app.users(1, 10, Some(token)).await;
    assert_eq!(answer.code(), "CONSISTENCY_TIMEOUT");

    let projected = app.users(1, 10, None).await.data.expect("a page");
    assert_eq!(
        projected.total_count, 1,
        "without a token: what is projected"
    );
    assert_eq!(app.user(id, None).await.code(), "NOT_FOUND");

    hold.rollback().await.unwrap();
    let user = app.user_eventually(id, token).await;
    assert_eq!(user.name, "Second");
}

both_engines!(token_reads_wait_then_time_out_never_stale);

//! Consistency tokens: a read with a token waits for the projector, bounded; without one it
//! answers at once; one no write issued is refused.

use cqrs_users::domain::LogPosition;
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

/// A token past the log's head, which no write issued, is refused as BAD_USER_INPUT
/// instead of waiting out the consistency timeout and claiming a write committed; the tokens
/// writes issue still work, the newest one included.
async fn a_token_no_write_issued_is_refused(backend: Backend) {
    // Long enough that a wait for the made-up token would fail the test's own deadline.
    let app = spawn_app_with(backend, &["--consistency-timeout-ms", "60000"]).await;
    let ada = app.create_user("Ada", "ada@example.com").await;
    let id = ada.user.id.as_str();
    let head = LogPosition::parse(&ada.consistency_token, "token").unwrap();
    let past_head = LogPosition::new(head.tx_id, head.seq + 1).to_string();
    for token in [past_head.as_str(), "7fffffffffffffff7fffffffffffffff"] {
        let answer = app.user(id, Some(token)).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{answer}");
        assert_eq!(
            answer.error().extensions.field.as_deref(),
            Some("consistencyToken")
        );
        assert_eq!(answer.error().extensions.write_committed, None);
        assert!(answer.data.is_none(), "{answer}");
        assert_eq!(app.users(1, 10, Some(token)).await.code(), "BAD_USER_INPUT");
    }
    assert_eq!(
        app.user(id, Some(&ada.consistency_token)).await.ok().name,
        "Ada"
    );
    let page = app.users(1, 10, Some(&ada.consistency_token)).await.ok();
    assert_eq!(page.total_count, 1);
}

both_engines!(
    token_reads_wait_then_time_out_never_stale,
    a_token_no_write_issued_is_refused,
);

/// Transaction ids are shared by every database of a PostgreSQL server, but only transactions of
/// the write database can append to the log: one left open in the read database, after a write
/// gave it an id, holds no follower of the log back. The token read of a later write is answered
/// (by the in-memory model, which follows the log), and so is the projector's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_of_another_database_holds_no_reader_of_the_log_back() {
    let Some(backend) = Backend::postgres_only("transaction ids are PostgreSQL's") else {
        return;
    };
    let app = spawn_app_with(backend, &["--consistency-timeout-ms", "5000"]).await;
    let elsewhere = app.read_db.begin().await.unwrap();
    elsewhere
        .execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .unwrap();

    let ada = app.create_user("Ada", "ada@example.com").await;
    let token = Some(ada.consistency_token.as_str());
    assert_eq!(app.user(&ada.user.id, token).await.ok().name, "Ada");
    app.converge(std::time::Duration::from_secs(5)).await;
    elsewhere.rollback().await.unwrap();
}

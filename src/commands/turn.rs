//! Turns: how commands that touch the same user, or hand one email address from one user to
//! another, queue up before they write, so that the log's order is their causal order.
//!
//! On PostgreSQL the log's order is `(tx_id, position)`, and a transaction gets its id at its
//! first write. A row lock counts as a write: a command waiting in `SELECT … FOR UPDATE` already
//! holds an id, and waiters are woken in any order, so two renames of one user could be logged
//! with their versions inverted (and an insert waiting on the unique email index likewise holds
//! an id from before its wait). So a command first waits for its turn on a
//! transaction-scoped advisory lock, which assigns no transaction id, and only then does anything
//! that does. The holder of a turn commits (or rolls back) before the next waiter gets it, and
//! that waiter's id is assigned after the commit: ids grow, so it sorts after. Different users
//! take different locks, so their writers are not serialised. A batch of creates on PostgreSQL is
//! one statement without a transaction around it, so it takes its addresses' turns inside that
//! statement, before its insert reads its rows (`free_emails_in_statement`;
//! `creates_together/postgres.rs` says why that comes first); it only takes turns that are free,
//! and a create whose turn is not waits for it in a transaction of its own.
//!
//! Locks come in two classes, taken in this order and at most one of each that is waited for per
//! transaction, so two commands can never wait on each other: `USER` (renames, deletes) before
//! `EMAIL` (creates, and deletes, which free their address). A batch of creates holds several
//! `EMAIL` turns, but only ones it found free: it waits for none. On SQLite a write transaction
//! holds the database's one write lock from `BEGIN IMMEDIATE`, so every command already has its
//! turn.

use anyhow::Context as _;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};

use crate::domain::UserId;

/// Advisory lock classes (the first key of PostgreSQL's two-key form, which never meets the
/// one-key form the migrations lock with).
const USER: i32 = 1;
const EMAIL: i32 = 2;

/// Locks one key of a class.
const BY_KEY: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";
/// Locks the address of the user with id `$2`; locks nothing if there is no such user. Reads the
/// row without locking it, so assigns no transaction id (a user's address never changes).
const BY_USERS_EMAIL: &str =
    "SELECT pg_advisory_xact_lock($1, hashtext(email)) FROM users WHERE id = $2::uuid";

/// The turns a change to an existing user waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turns {
    /// Only the user's (a rename).
    User,
    /// The user's, then its address's (a delete, which frees the address).
    UserAndEmail,
}

/// Waits until no other command is changing this user (and, with `UserAndEmail`, until none is
/// giving or taking its address).
pub(super) async fn user(
    txn: &DatabaseTransaction,
    id: UserId,
    turns: Turns,
) -> anyhow::Result<()> {
    lock(txn, BY_KEY, USER, id.to_string())
        .await
        .context("wait for the user's turn")?;
    if turns == Turns::UserAndEmail {
        lock(txn, BY_USERS_EMAIL, EMAIL, id.to_string())
            .await
            .context("wait for the user's email address's turn")?;
    }
    Ok(())
}

/// Waits until no other command is giving or taking the address `email` (a create whose turn
/// a batch found taken waits for it alone, see `creates_together/postgres.rs`).
pub(super) async fn email(txn: &DatabaseTransaction, email: &str) -> anyhow::Result<()> {
    lock(txn, BY_KEY, EMAIL, email.to_owned())
        .await
        .context("wait for the email address's turn")
}

/// The turns of the addresses in column `email` of `cte`, an earlier query of the statement's
/// `WITH` list, as the next one (a batch of creates is one statement): `turn` has a row per key,
/// `held` when the turn was free and is now the statement's, `false` when another command is
/// giving or taking an address of that key. It never waits, so batches cannot deadlock. A query
/// that reads all of it first writes only after every turn was tried. `MATERIALIZED` keeps it a
/// query of its own, run once.
pub(super) fn free_emails_in_statement(cte: &str) -> String {
    format!(
        "turn AS MATERIALIZED (SELECT key, pg_try_advisory_xact_lock({EMAIL}, key) AS held \
         FROM (SELECT DISTINCT hashtext(email) AS key FROM {cte}) AS keys)"
    )
}

async fn lock(
    txn: &DatabaseTransaction,
    sql: &str,
    class: i32,
    key: String,
) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [class.into(), key.into()],
    ))
    .await
    .map(|_| ())
}

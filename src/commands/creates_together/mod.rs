//! Creates written together: the creates that queued while the writers were busy go in one
//! transaction, one batch per writer at a time.
//!
//! What a create costs beyond its rows is per transaction and per round trip, and a batch pays it
//! once. On SQLite (`sqlite.rs`) sqlx runs the one write connection on a thread of its own: every
//! statement is a hand-off to that thread and back and every commit syncs the WAL, and written
//! one by one those hand-offs were half of the server's CPU under a create load. On PostgreSQL
//! (`postgres.rs`) a batch is one statement, its own transaction: one round trip, one commit, one
//! plan run for all its rows, where a create alone cost PostgreSQL about as much again in its
//! transaction as in its rows. A batch forms only from what already waits: while a writer is
//! free, a create is written at once, alone. SQLite has one writer; PostgreSQL half the write
//! pool's connections, so renames and deletes keep the other half.
//!
//! Each create's outcome is its own: an address another live user has (or an earlier create of
//! the batch took) leaves that create out (`ON CONFLICT DO NOTHING`; its caller is told
//! `EmailTaken`), and the rest are written. A statement the database refuses rolls the batch
//! back, and then each of its creates is written again on its own, so one it refuses fails alone.
//! A batch that could not start (no connection, the file locked by another process) or whose
//! outcome is unknown (its commit, or its connection, failed) is not tried again: each of its
//! callers is told. Callers hear only after the commit, so no acknowledged create can be lost.
//! The writers are tasks of their own, so a caller that goes away does not cut a batch short.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::prelude::Uuid;
use sea_orm::{DatabaseConnection, DbBackend, DbErr, QueryResult, Value};
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument as _;

use crate::commands::CommandError;
use crate::commands::decide::Change;
use crate::domain::{Caller, LogPosition, User};
use crate::events;
use crate::telemetry::Fault;

/// Most creates one batch writes: 6 parameters a row and 7 an event keep SQLite's statements far
/// under its 32 766 (a PostgreSQL batch is 13 arrays, whatever its size), and a caller waits for
/// at most this many others.
const MOST_PER_BATCH: usize = 256;

/// Where creates queue for the writers. Dropping it ends each writer once the queue is empty.
pub(super) struct CreatesTogether {
    queue: mpsc::Sender<Queued>,
}

/// A create waiting to be written, with where to say how it went.
struct Queued {
    change: Change<User>,
    caller: Caller,
    /// The event's position, `None` when the address was taken.
    outcome: oneshot::Sender<Result<Option<LogPosition>, CommandError>>,
    /// The caller's span (its command's `dispatch`), which the batch's statements are traced in.
    span: tracing::Span,
}

impl CreatesTogether {
    /// Starts the writers on `db`, the write pool.
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let writers = match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool().options();
                (pool.get_max_connections() / 2).max(1)
            }
            _ => 1,
        };
        let (queue, queued) = mpsc::channel(4 * MOST_PER_BATCH);
        let queued = Arc::new(Mutex::new(queued));
        for _ in 0..writers {
            tokio::spawn(write_batches(db.clone(), Arc::clone(&queued)));
        }
        Self { queue }
    }

    /// Writes the create `change` caused by `caller` with whatever else is queued: its event's
    /// position once committed, or `None` when another live user has the address.
    pub(super) async fn create(
        &self,
        change: Change<User>,
        caller: &Caller,
    ) -> Result<Option<LogPosition>, CommandError> {
        let (outcome, told) = oneshot::channel();
        let queued = Queued {
            change,
            caller: caller.clone(),
            outcome,
            span: tracing::Span::current(),
        };
        let gone = || CommandError::from(anyhow::anyhow!("the create writers have stopped"));
        self.queue.send(queued).await.map_err(|_| gone())?;
        told.await.map_err(|_| gone())?
    }
}

/// A writer: takes everything queued (up to `MOST_PER_BATCH`) once no other writer is taking,
/// writes it, tells each caller.
async fn write_batches(db: DatabaseConnection, queued: Arc<Mutex<mpsc::Receiver<Queued>>>) {
    let mut batch = Vec::with_capacity(MOST_PER_BATCH);
    loop {
        let taken = {
            let mut queued = queued.lock().await;
            queued.recv_many(&mut batch, MOST_PER_BATCH).await
        };
        if taken == 0 {
            return;
        }
        let span = traced(&batch);
        match write(&db, &batch).instrument(span.clone()).await {
            Ok(positions) => tell(batch.drain(..), positions),
            // Nothing was written: each create again on its own, so one that the database
            // refuses fails alone.
            Err(Failed::RolledBack(err)) if batch.len() > 1 => {
                tracing::warn!(
                    parent: &span,
                    "a batch of {} creates was refused, writing each alone: {err:#}",
                    batch.len()
                );
                for create in batch.drain(..) {
                    let alone = std::slice::from_ref(&create);
                    let written = write(&db, alone).instrument(traced(alone)).await;
                    match written {
                        Ok(position) => tell([create], position),
                        Err(failed) => tell_failed([create], failed.cause()),
                    }
                }
            }
            Err(failed) => tell_failed(batch.drain(..), failed.cause()),
        }
    }
}

/// Writes `batch` in one transaction, the way its engine does: each create's position, `None`
/// for one left out.
async fn write(
    db: &DatabaseConnection,
    batch: &[Queued],
) -> Result<Vec<Option<LogPosition>>, Failed> {
    let mut positions = match db.get_database_backend() {
        DbBackend::Postgres => postgres::write(db, batch).await?,
        _ => sqlite::write(db, batch).await?,
    };
    Ok(batch
        .iter()
        .map(|c| positions.remove(&c.change.user_id.as_uuid()))
        .collect())
}

/// The position of each written user's event.
type Written = HashMap<Uuid, LogPosition>;

impl Queued {
    /// The row of this create's event (`events::event_values`).
    fn event_values(&self) -> anyhow::Result<[Value; 7]> {
        let change = &self.change;
        let (id, version, at) = (change.user_id, change.version, change.occurred_at);
        events::event_values(id, version, at, &change.event, &self.caller)
    }
}

/// The positions in `rows`, the appended events' `user_id`, `tx_id` and `position`.
fn positions(rows: &[QueryResult]) -> Result<Written, DbErr> {
    rows.iter()
        .map(|row| {
            let user: Uuid = row.try_get("", "user_id")?;
            let tx_id: i64 = row.try_get("", "tx_id")?;
            let position: i64 = row.try_get("", "position")?;
            Ok((user, LogPosition::new(tx_id, position)))
        })
        .collect()
}

/// The span `batch`'s statements are traced in: a child of its first create's `dispatch` span,
/// following from the others', so each request's trace reaches the SQL that wrote it.
fn traced(batch: &[Queued]) -> tracing::Span {
    let span = tracing::info_span!(parent: &batch[0].span, "batch", creates = batch.len());
    for create in &batch[1..] {
        span.follows_from(&create.span);
    }
    span
}

/// Tells each of `creates` its position (`None`: the address was taken).
fn tell(creates: impl IntoIterator<Item = Queued>, positions: Vec<Option<LogPosition>>) {
    for (create, position) in creates.into_iter().zip(positions) {
        let _ = create.outcome.send(Ok(position));
    }
}

/// Tells each of `creates` that writing it failed with `err`.
fn tell_failed(creates: impl IntoIterator<Item = Queued>, err: anyhow::Error) {
    let unavailable = crate::db::is_unavailable(&err);
    let cause = format!("{err:#}");
    for create in creates {
        // One cause, told to every caller; each one's log line carries it.
        let err = anyhow::anyhow!("{cause}").context("write a batch of creates");
        let fault = if unavailable {
            Fault::Unavailable(err)
        } else {
            Fault::Unexpected(err)
        };
        let _ = create.outcome.send(Err(fault.into()));
    }
}

/// How writing a batch failed.
enum Failed {
    /// A statement the database refused: the transaction was rolled back, nothing of it was
    /// written, and each create may be tried on its own.
    RolledBack(anyhow::Error),
    /// Not to be tried again create by create: no transaction began (no connection within the
    /// pool's wait, the file locked by another process), and trying each again would wait as
    /// long once per create; or the outcome is unknown (the commit failed, or the connection
    /// while PostgreSQL ran the statement).
    Final(anyhow::Error),
}

impl Failed {
    fn cause(self) -> anyhow::Error {
        match self {
            Failed::RolledBack(err) | Failed::Final(err) => err,
        }
    }
}

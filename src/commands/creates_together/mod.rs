//! Creates written together: the creates that queued while the writer was busy go in one
//! transaction, one batch at a time.
//!
//! What a create costs beyond its rows is per transaction and per round trip, and a batch pays it
//! once. On SQLite (`sqlite.rs`) sqlx runs the one write connection on a thread of its own: every
//! statement is a hand-off to that thread and back and every commit syncs the WAL, and written
//! one by one those hand-offs were half of the server's CPU under a create load. On PostgreSQL
//! (`postgres.rs`) a batch is one statement, its own transaction: one round trip, one commit, one
//! plan run for all its rows. A batch forms only from what already waits: while the writer is
//! free, a create is written at once, alone. One writer an instance is what makes batches form:
//! with five on PostgreSQL, most creates went alone, and the bench's create rate was 0.27 of
//! pgbench's `INSERT` against 0.28 to 0.37 in the runs with one (the README's bench section). The writer never waits for an address's turn: on
//! PostgreSQL a create whose turn another command holds is left out of its batch and waits for
//! it in a task of its own.
//!
//! Each create's outcome is its own: an address another live user has (or an earlier create of
//! the batch took) leaves that create out (`ON CONFLICT DO NOTHING`; its caller is told
//! `EmailTaken`), and the rest are written. A statement the database refuses rolls the batch
//! back, and then each of its creates is written again on its own, so one it refuses fails alone.
//! A batch that could not start (no connection, the file locked by another process) or whose
//! outcome is unknown (its commit, or its connection, failed) is not tried again: each of its
//! callers is told. Callers hear only after the commit, so no acknowledged create can be lost.
//! The writer is a task of its own, so a caller that goes away does not cut a batch short.

mod postgres;
mod sqlite;

use std::collections::{HashMap, HashSet};

use sea_orm::prelude::Uuid;
use sea_orm::{DatabaseConnection, DbBackend, Value};
use tokio::sync::{mpsc, oneshot};
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

/// Where creates queue for the writer. Dropping it ends the writer once the queue is empty.
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
    /// Starts the writer on `db`, the write pool.
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let (queue, queued) = mpsc::channel(4 * MOST_PER_BATCH);
        tokio::spawn(write_batches(db, queued));
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
        let gone = || CommandError::from(anyhow::anyhow!("the create writer has stopped"));
        self.queue.send(queued).await.map_err(|_| gone())?;
        told.await.map_err(|_| gone())?
    }
}

/// The writer: takes everything queued (up to `MOST_PER_BATCH`), writes it, tells each caller.
async fn write_batches(db: DatabaseConnection, mut queued: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MOST_PER_BATCH);
    while queued.recv_many(&mut batch, MOST_PER_BATCH).await > 0 {
        let span = traced(&batch);
        match write(&db, &batch).instrument(span.clone()).await {
            Ok(written) => settle(&db, batch.drain(..), written),
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
                    match write(&db, alone).instrument(traced(alone)).await {
                        Ok(written) => settle(&db, [create], written),
                        Err(failed) => tell_failed([create], failed.cause()),
                    }
                }
            }
            Err(failed) => tell_failed(batch.drain(..), failed.cause()),
        }
    }
}

/// Writes `batch` in one transaction, the way its engine does.
async fn write(db: &DatabaseConnection, batch: &[Queued]) -> Result<Written, Failed> {
    match db.get_database_backend() {
        DbBackend::Postgres => postgres::write(db, batch).await,
        _ => sqlite::write(db, batch).await,
    }
}

/// What a batch wrote.
#[derive(Default)]
struct Written {
    /// The position of each written user's event; a create without one was left out because
    /// its address was taken.
    positions: HashMap<Uuid, LogPosition>,
    /// The creates left out because another command held their address's turn (PostgreSQL).
    busy: HashSet<Uuid>,
}

/// Tells each of `creates` its position (`None`: the address was taken), and starts the wait of
/// each one whose turn was busy.
fn settle(
    db: &DatabaseConnection,
    creates: impl IntoIterator<Item = Queued>,
    mut written: Written,
) {
    for create in creates {
        let id = create.change.user_id.as_uuid();
        if written.busy.contains(&id) {
            tokio::spawn(wait_alone(db.clone(), create));
        } else {
            let _ = create.outcome.send(Ok(written.positions.remove(&id)));
        }
    }
}

/// Writes `create` once its address's turn is free, and tells its caller.
async fn wait_alone(db: DatabaseConnection, create: Queued) {
    let span = traced(std::slice::from_ref(&create));
    let written = postgres::write_waiting(&db, &create).instrument(span).await;
    match written {
        Ok(written) if written.busy.is_empty() => settle(&db, [create], written),
        Ok(_) => {
            let err = anyhow::anyhow!("its address's turn was taken while it held it");
            tell_failed([create], err);
        }
        Err(failed) => tell_failed([create], failed.cause()),
    }
}

impl Queued {
    /// The row of this create's event (`events::event_values`).
    fn event_values(&self) -> anyhow::Result<[Value; 7]> {
        let change = &self.change;
        let (id, version, at) = (change.user_id, change.version, change.occurred_at);
        events::event_values(id, version, at, &change.event, &self.caller)
    }
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

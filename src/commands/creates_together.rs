//! Creates on SQLite, written together: the creates that queued while the one write connection
//! was busy go in one transaction, as one `INSERT` of their rows and one of their events.
//!
//! SQLite has one writer, and sqlx runs each connection on a thread of its own: every statement is
//! a hand-off to that thread and back, and every commit syncs the WAL. Written one by one, a create
//! cost four hand-offs and a sync, and the hand-offs (futex waits and wake-ups) were half of the
//! server's CPU under a create load. Written together, a batch costs the same four, whatever its
//! size. A batch forms only from what already waits: alone, a create is written at once.
//!
//! Each create's outcome is its own: an address another live user has (or an earlier create of
//! the batch took) leaves that create out (`ON CONFLICT DO NOTHING`; its caller is told
//! `EmailTaken`), and the rest are written. A statement that fails rolls the batch back, and then
//! each of its creates is written again on its own, so one the database refuses fails alone. A
//! batch whose transaction could not begin, or whose commit failed (its outcome is unknown), is
//! not tried again: each of its callers is told.
//! Callers hear only after the commit, so no acknowledged create can be lost. The writer is a
//! task of its own, so a caller that goes away does not cut a batch short.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Alias, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use crate::commands::CommandError;
use crate::commands::create_user::row_values;
use crate::commands::decide::Change;
use crate::domain::{Caller, LogPosition, User};
use crate::entities::{user_events, users};
use crate::events;
use crate::telemetry::Fault;

/// Most creates one batch writes: 7 parameters an event keep a statement far under SQLite's
/// 32 766, and a caller waits for at most this many others.
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
    /// Starts the writer on `db` (SQLite's write pool).
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
        let gone = || CommandError::from(anyhow::anyhow!("the SQLite create writer has stopped"));
        self.queue.send(queued).await.map_err(|_| gone())?;
        told.await.map_err(|_| gone())?
    }
}

/// The writer: takes everything queued (up to `MOST_PER_BATCH`), writes it, tells each caller.
async fn write_batches(db: DatabaseConnection, mut queued: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MOST_PER_BATCH);
    while queued.recv_many(&mut batch, MOST_PER_BATCH).await > 0 {
        match write(&db, &batch).instrument(traced(&batch)).await {
            Ok(positions) => tell(batch.drain(..), positions),
            // A statement failed and nothing was written: each create again on its own, so
            // one that the database refuses fails alone.
            Err(Failed::Statement(_)) if batch.len() > 1 => {
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
    /// No transaction began (no connection within the pool's wait, the file locked by another
    /// process): trying each create again would wait as long once per create, so it is not.
    Begin(anyhow::Error),
    /// A statement of the batch: the transaction was rolled back, nothing of it was written.
    Statement(anyhow::Error),
    /// The commit itself: the outcome is unknown, so the batch is not tried again.
    Commit(anyhow::Error),
}

impl Failed {
    fn cause(self) -> anyhow::Error {
        match self {
            Failed::Begin(err) | Failed::Statement(err) | Failed::Commit(err) => err,
        }
    }
}

/// Writes `batch` in one transaction: the rows whose address is free, then their events in the
/// batch's order. Each create's position, `None` for one left out.
async fn write(
    db: &DatabaseConnection,
    batch: &[Queued],
) -> Result<Vec<Option<LogPosition>>, Failed> {
    let txn = crate::db::begin_write(db)
        .await
        .context("begin write transaction")
        .map_err(Failed::Begin)?;
    let mut positions = write_in(&txn, batch).await.map_err(Failed::Statement)?;
    txn.commit()
        .await
        .context("commit write transaction")
        .map_err(Failed::Commit)?;
    Ok(batch
        .iter()
        .map(|c| positions.remove(&c.change.user_id.as_uuid()))
        .collect())
}

/// The statements of [`write`]: the position of each user's event.
async fn write_in(
    txn: &impl ConnectionTrait,
    batch: &[Queued],
) -> anyhow::Result<HashMap<Uuid, LogPosition>> {
    let inserted = insert_rows(txn, batch).await.context("insert users")?;
    let written: Vec<&Queued> = batch
        .iter()
        .filter(|c| inserted.contains(&c.change.user_id.as_uuid()))
        .collect();
    if written.is_empty() {
        return Ok(HashMap::new());
    }
    append_events(txn, &written)
        .await
        .context("append UserCreated events")
}

/// Inserts the batch's rows; a row whose address a live user (or an earlier row) has is left
/// out, as the unique index on the address decides. The ids inserted.
async fn insert_rows(db: &impl ConnectionTrait, batch: &[Queued]) -> Result<HashSet<Uuid>, DbErr> {
    use users::Column as C;
    let mut insert = Query::insert()
        .into_table(Alias::new("users"))
        // In `row_values`' order.
        .columns([
            C::Id,
            C::Name,
            C::Email,
            C::Version,
            C::CreatedAt,
            C::UpdatedAt,
        ])
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .returning_col(C::Id)
        .to_owned();
    for create in batch {
        insert
            .values(row_values(&create.change.value).into_iter().map(Into::into))
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    db.query_all(&insert)
        .await?
        .iter()
        .map(|row| row.try_get("", "id"))
        .collect()
}

/// Appends the `UserCreated` events of `written`, in its order; each user's event position.
async fn append_events(
    db: &impl ConnectionTrait,
    written: &[&Queued],
) -> anyhow::Result<HashMap<Uuid, LogPosition>> {
    use user_events::Column as C;
    let mut insert = Query::insert()
        .into_table(Alias::new("user_events"))
        .columns(events::EVENT_COLUMNS)
        .returning(Query::returning().columns([C::UserId, C::TxId, C::Position]))
        .to_owned();
    for create in written {
        let change = &create.change;
        let row = events::event_values(
            change.user_id,
            change.version,
            change.occurred_at,
            &change.event,
            &create.caller,
        )?;
        insert.values(row.map(Into::into))?;
    }
    let rows = db.query_all(&insert).await?;
    rows.iter()
        .map(|row| {
            let user: Uuid = row.try_get("", "user_id")?;
            let tx_id: i64 = row.try_get("", "tx_id")?;
            let position: i64 = row.try_get("", "position")?;
            Ok((user, LogPosition::new(tx_id, position)))
        })
        .collect::<Result<_, DbErr>>()
        .map_err(Into::into)
}

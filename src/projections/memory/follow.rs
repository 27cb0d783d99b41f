//! Feeding the in-memory read model: `users_view` and its checkpoint read in one snapshot, then
//! every later event of the log, in order, from a feed that replays the log and then goes live.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use sea_orm::{
    AccessMode, DatabaseConnection, DbBackend, DbErr, EntityTrait, IsolationLevel, QueryOrder,
    TransactionTrait,
};
use tokio_util::sync::CancellationToken;

use crate::domain::{LogPosition, User};
use crate::entities::users_view;
use crate::events::{ReadError, RecordedEvent};
use crate::projections::load_checkpoint;
use crate::projections::memory::{MemoryModel, MemoryStatus};

/// Events applied under one lock at most.
const CHUNK: usize = 256;
/// How long to wait before reading again after a failed read.
const RETRY: Duration = Duration::from_millis(500);

impl MemoryModel {
    /// Loads the model from `users_view`, then applies what `feed(position)` yields: every event
    /// after `position`, in log order, replayed and then live. Restarts the feed where it stopped
    /// after a read error; ends when `stop` is cancelled, the feed ends, or the model gives up.
    pub async fn follow<F, S>(
        self,
        read_db: DatabaseConnection,
        mut feed: F,
        stop: CancellationToken,
    ) where
        F: FnMut(LogPosition) -> S,
        S: Stream<Item = Result<Arc<RecordedEvent>, ReadError>>,
    {
        loop {
            match load(&read_db).await {
                Ok((users, checkpoint)) => {
                    let count = users.len();
                    if !self.install(users, checkpoint) {
                        return;
                    }
                    tracing::info!(
                        users = count,
                        %checkpoint,
                        "in-memory read model loaded from users_view"
                    );
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "loading the in-memory read model failed; retrying");
                    if !pause(&stop).await {
                        return;
                    }
                }
            }
        }
        while let MemoryStatus::At(after) = self.status() {
            let mut events = std::pin::pin!(feed(after).ready_chunks(CHUNK));
            let failed = loop {
                let chunk = tokio::select! {
                    chunk = events.next() => chunk,
                    () = stop.cancelled() => return,
                };
                let Some(chunk) = chunk else { return };
                let mut read = Vec::with_capacity(chunk.len());
                let mut failed = None;
                for item in chunk {
                    match item {
                        Ok(event) => read.push(event),
                        Err(err) => {
                            failed = Some(err);
                            break;
                        }
                    }
                }
                if !self.apply(&read) {
                    return;
                }
                if failed.is_some() {
                    break failed;
                }
            };
            if let Some(err) = failed {
                tracing::warn!(error = %err, "reading the log for the in-memory read model failed; retrying");
            }
            if !pause(&stop).await {
                return;
            }
        }
    }
}

/// Waits `RETRY`; `false` if `stop` came first.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY) => true,
        () = stop.cancelled() => false,
    }
}

/// Every user of `users_view` in list order and the checkpoint they are exact at, read in one
/// snapshot (repeatable read on PostgreSQL; one SQLite read transaction).
async fn load(read_db: &DatabaseConnection) -> Result<(Vec<User>, LogPosition), DbErr> {
    let txn = match read_db.get_database_backend() {
        DbBackend::Postgres => {
            read_db
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?
        }
        _ => read_db.begin().await?,
    };
    let checkpoint = load_checkpoint(&txn).await?;
    let rows = users_view::Entity::find()
        .order_by_asc(users_view::Column::Ordinal)
        .all(&txn)
        .await?;
    txn.commit().await?;
    let users = rows.into_iter().map(User::from).collect();
    Ok((users, checkpoint))
}

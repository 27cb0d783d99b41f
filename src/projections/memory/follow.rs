//! Feeding the in-memory read model: `users_view` and its checkpoint read in one snapshot, then
//! every later event of the log, in order, from a feed that replays the log and then goes live.
//! After a gap it reloads the same way, without a restart.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _, TryStreamExt as _};
use sea_orm::{
    AccessMode, DatabaseConnection, DbBackend, DbErr, EntityTrait, IsolationLevel, QueryOrder,
    QuerySelect, TransactionTrait,
};
use tokio_util::sync::CancellationToken;

use crate::domain::LogPosition;
use crate::entities::{users_view, users_view_stats};
use crate::events::{ReadError, RecordedEvent};
use crate::projections::load_checkpoint;
use crate::projections::memory::all::All;
use crate::projections::memory::{Loaded, Lost, MemoryModel, MemoryStatus};

/// Events applied under one lock at most.
const CHUNK: usize = 256;
/// How long to wait before reading again after a failed read, or reloading after a gap.
const RETRY: Duration = Duration::from_millis(500);
/// Reloads in a row that fail on the same event before the model gives up: that event is in
/// the log, not a hiccup of the feed, and `users_view`'s projector stops on it too.
const MAX_RELOADS: u32 = 5;

/// How following the feed ended.
enum Ended {
    /// `stop` was cancelled or the feed ended.
    Stopped,
    /// The model dropped its users (at this event, for a gap).
    Lost(Option<LogPosition>),
}

impl MemoryModel {
    /// Loads the model from `users_view`, then applies what `feed(position)` yields: every event
    /// after `position`, in log order, replayed and then live. Restarts the feed where it stopped
    /// after a read error, and reloads after a gap; ends when `stop` is cancelled, the feed ends,
    /// or reloads keep failing at the same event (then the model is `Unusable`).
    pub async fn follow<F, S>(
        self,
        read_db: DatabaseConnection,
        mut feed: F,
        stop: CancellationToken,
    ) where
        F: FnMut(LogPosition) -> S,
        S: Stream<Item = Result<Arc<RecordedEvent>, ReadError>>,
    {
        let (mut reloads, mut last_lost) = (0u32, None);
        loop {
            if !self.load_until_loaded(&read_db, &stop).await {
                return;
            }
            let Ended::Lost(at) = self.follow_feed(&mut feed, &stop).await else {
                return;
            };
            reloads = if at.is_some() && at == last_lost {
                reloads + 1
            } else {
                1
            };
            last_lost = at;
            if reloads > MAX_RELOADS {
                let why = format!("{MAX_RELOADS} reloads in a row failed at the same event");
                self.give_up(&why);
                return;
            }
            tracing::warn!(
                attempt = reloads,
                of = MAX_RELOADS,
                "reloading the in-memory read model from users_view"
            );
            if !pause(&stop).await {
                return;
            }
        }
    }

    /// Loads and installs `users_view`, retrying after a pause while it fails; `false` if `stop`
    /// came first.
    async fn load_until_loaded(
        &self,
        read_db: &DatabaseConnection,
        stop: &CancellationToken,
    ) -> bool {
        loop {
            match load(read_db, self.shared.max_users).await {
                Ok((loaded, checkpoint)) => {
                    let count = match &loaded {
                        Loaded::All(all) => all.len(),
                        Loaded::PastBound { users } => *users,
                    };
                    self.install(loaded, checkpoint);
                    tracing::info!(
                        users = count,
                        %checkpoint,
                        "in-memory read model loaded from users_view"
                    );
                    return true;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "loading the in-memory read model failed; retrying");
                }
            }
            if !pause(stop).await {
                return false;
            }
        }
    }

    /// Applies the feed from the model's position until it stops or the model loses its users.
    async fn follow_feed<F, S>(&self, feed: &mut F, stop: &CancellationToken) -> Ended
    where
        F: FnMut(LogPosition) -> S,
        S: Stream<Item = Result<Arc<RecordedEvent>, ReadError>>,
    {
        while let MemoryStatus::At(after) = self.status() {
            let mut events = std::pin::pin!(feed(after).ready_chunks(CHUNK));
            let failed = loop {
                let chunk = tokio::select! {
                    chunk = events.next() => chunk,
                    () = stop.cancelled() => return Ended::Stopped,
                };
                let Some(chunk) = chunk else {
                    return Ended::Stopped;
                };
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
                match self.apply(&read) {
                    Ok(()) => {}
                    Err(Lost::Gap(gap)) => return Ended::Lost(Some(gap.position())),
                    Err(Lost::Poisoned) => return Ended::Lost(None),
                }
                if failed.is_some() {
                    break failed;
                }
            };
            if let Some(err) = failed {
                tracing::warn!(error = %err, "reading the log for the in-memory read model failed; retrying");
            }
            if !pause(stop).await {
                return Ended::Stopped;
            }
        }
        Ended::Lost(None)
    }
}

/// Waits `RETRY`; `false` if `stop` came first.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY) => true,
        () = stop.cancelled() => false,
    }
}

/// Every user of `users_view` in list order, or only how many there are when more than
/// `max_users`, and the checkpoint they are exact at, read in one snapshot (repeatable read on
/// PostgreSQL; one SQLite read transaction).
async fn load(
    read_db: &DatabaseConnection,
    max_users: u64,
) -> Result<(Loaded, LogPosition), DbErr> {
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
    let stats = users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
        .one(&txn)
        .await?;
    let count = stats.map_or(0, |s| u64::try_from(s.user_count).unwrap_or(0));
    let loaded = if count > max_users {
        Loaded::PastBound { users: count }
    } else {
        // Streamed into the model row by row: collecting the rows first held them all twice
        // over (sqlx's rows, then the models) at the moment of the load's peak. Read by column
        // position, not as models (a lookup by name per column was about a tenth of the load's
        // CPU in perf), and without `ordinal`: the rows come in its order.
        let mut all = All::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut rows = users_view::Entity::find()
            .select_only()
            .columns(users_view::USER_COLUMNS)
            .order_by_asc(users_view::Column::Ordinal)
            .into_tuple::<users_view::UserRow>()
            .stream(&txn)
            .await?;
        while let Some(row) = rows.try_next().await? {
            all.push(users_view::user_of(row));
        }
        drop(rows);
        Loaded::All(all)
    };
    txn.commit().await?;
    Ok((loaded, checkpoint))
}

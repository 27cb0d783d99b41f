//! Rebuilding `users_view` from the whole log while reads go on: replay into a copy aside, then
//! take the lease from the running projector and swap the copy in with one transaction.
//!
//! The replay applies each user's events in version order even where the log does not hold them
//! in that order (as logs written before commands took their turns may): an event that does not
//! fit the copy yet waits, in memory, for the versions before it. So a rebuild repairs a view that
//! strict live apply stopped on. It refuses to swap in a copy behind the live checkpoint (it would
//! forget events clients have read) unless told the log has lost them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::db::begin_write;
use crate::domain::{LogPosition, UserId};
use crate::entities::users_view_stats;
use crate::events::{self, RecordedEvent, UserEvent};
use crate::projections::users_view::{self, REBUILD};
use crate::projections::{
    Lease, ProjectionError, USERS_VIEW, load_checkpoint, save_counts_and_checkpoint,
};

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events replayed from the start of the log.
    pub events: u64,
    /// Users in the rebuilt view.
    pub users: i64,
    /// The checkpoint the rebuilt view was swapped in at.
    pub checkpoint: LogPosition,
}

/// How soon to read again for events held back behind a running transaction.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(10);

const COLUMNS: &str = "id, name, email, version, created_at, updated_at, ordinal";

/// Rebuilds `users_view` and its counts from the event log. Readers keep reading the old view
/// until the swap commits; the running projector is fenced off by the lease during the swap and
/// resumes from the new checkpoint afterwards.
///
/// `accept_lost_events`: swap the copy in even if it ends behind the live checkpoint, which
/// happens only when the write database lost events the view had applied (restored from a
/// backup, or its tail lost in an OS crash).
pub async fn rebuild(
    write_db: &DatabaseConnection,
    read_db: &DatabaseConnection,
    batch_size: u64,
    lease_ttl: Duration,
    accept_lost_events: bool,
) -> anyhow::Result<RebuildReport> {
    // One transaction, so one connection: on SQLite another pooled connection may not yet see
    // that the DROP removed the index of an earlier, refused rebuild.
    let fresh = begin_write(read_db).await?;
    for sql in [
        "DROP TABLE IF EXISTS users_view_rebuild",
        "CREATE TABLE users_view_rebuild AS SELECT * FROM users_view WHERE 1 = 0",
        "CREATE UNIQUE INDEX users_view_rebuild_id ON users_view_rebuild (id)",
    ] {
        fresh.execute_unprepared(sql).await.context(sql)?;
    }
    fresh.commit().await?;
    let mut replay = Replay {
        position: LogPosition::START,
        stats: users_view_stats::Model {
            id: users_view_stats::ROW_ID,
            user_count: 0,
            created_count: 0,
        },
        events: 0,
        waiting: HashMap::new(),
    };
    // Aside: one transaction per batch, nobody else writes the copy.
    loop {
        let txn = begin_write(read_db).await?;
        let applied = replay.next_batch(write_db, &txn, batch_size).await?;
        txn.commit().await?;
        if applied == 0 {
            break;
        }
    }
    tracing::info!(events = replay.events, "replayed the log aside; swapping");

    let lease = Lease::for_rebuild(USERS_VIEW, lease_ttl);
    lease
        .steal(read_db)
        .await
        .context("take the projection lease")?;
    let swapped = async {
        let txn = begin_write(read_db).await?;
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            // The copy swapped in is as large as the view: no per-statement limit for it.
            txn.execute_unprepared("SET LOCAL statement_timeout = 0")
                .await?;
        }
        anyhow::ensure!(
            lease.renew(&txn).await?,
            "lost the projection lease while swapping"
        );
        while replay.next_batch(write_db, &txn, batch_size).await? > 0 {}
        // The version a waiting event needs may be held back behind a transaction still
        // running (anywhere in the cluster: see `events::read_after`): it comes once that ends.
        let deadline = Instant::now() + lease_ttl / 2;
        while !replay.waiting.is_empty()
            && Instant::now() < deadline
            && events::unread_after(write_db, replay.position).await?
        {
            tokio::time::sleep(HELD_BACK_RECHECK).await;
            while replay.next_batch(write_db, &txn, batch_size).await? > 0 {}
        }
        replay.check_complete()?;
        let live = load_checkpoint(&txn).await?;
        anyhow::ensure!(
            replay.position >= live || accept_lost_events,
            "the log ends at {}, behind the live checkpoint {live}: the write database has lost \
             events the read model applied (restored from a backup, or its last commits lost in \
             a crash). Nothing was changed. To rebuild the view from the log as it is, forgetting \
             them, run `cqrs-users projections rebuild --accept-lost-events`",
            replay.position
        );
        txn.execute_unprepared("DELETE FROM users_view").await?;
        txn.execute_unprepared(&format!(
            "INSERT INTO users_view ({COLUMNS}) SELECT {COLUMNS} FROM users_view_rebuild"
        ))
        .await?;
        save_counts_and_checkpoint(&txn, &replay.stats, replay.position).await?;
        txn.commit().await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(err) = lease.release(read_db).await {
        tracing::warn!(error = %err, "could not release the projection lease after the rebuild");
    }
    swapped.context("swap the rebuilt view in")?;
    read_db
        .execute_unprepared("DROP TABLE IF EXISTS users_view_rebuild")
        .await?;
    Ok(RebuildReport {
        events: replay.events,
        users: replay.stats.user_count,
        checkpoint: replay.position,
    })
}

/// The replay's progress through the log.
struct Replay {
    position: LogPosition,
    stats: users_view_stats::Model,
    events: u64,
    /// Events read before an earlier version of their user, by user and version.
    waiting: HashMap<UserId, BTreeMap<i32, RecordedEvent>>,
}

impl Replay {
    /// Applies the next batch to the copy; how many events it applied.
    async fn next_batch(
        &mut self,
        write_db: &DatabaseConnection,
        txn: &impl ConnectionTrait,
        batch_size: u64,
    ) -> anyhow::Result<u64> {
        let batch = events::read_after(write_db, self.position, batch_size).await?;
        let read = batch.len() as u64;
        for event in batch {
            self.position = event.position;
            self.apply_in_version_order(txn, event).await?;
        }
        self.events += read;
        Ok(read)
    }

    /// Applies `event`, then whatever of its user waited for it; an event that does not fit yet
    /// waits for the versions before it.
    async fn apply_in_version_order(
        &mut self,
        txn: &impl ConnectionTrait,
        event: RecordedEvent,
    ) -> anyhow::Result<()> {
        let user = event.user_id;
        let mut next = Some(event);
        while let Some(event) = next.take() {
            let one = std::slice::from_ref(&event);
            match users_view::apply(txn, REBUILD, &mut self.stats, one).await {
                Ok(()) => {
                    let waiting = self.waiting.get_mut(&user);
                    next = waiting.and_then(|w| w.remove(&(event.version + 1)));
                }
                // A create that does not fit (a user created twice) never will.
                Err(ProjectionError::OutOfStep { .. })
                    if !matches!(event.event, UserEvent::UserCreated { .. }) =>
                {
                    self.waiting
                        .entry(user)
                        .or_default()
                        .insert(event.version, event);
                }
                Err(err) => return Err(err.into()),
            }
        }
        if self.waiting.get(&user).is_some_and(BTreeMap::is_empty) {
            self.waiting.remove(&user);
        }
        Ok(())
    }

    /// Every event read has been applied: none still waits for a version the log does not hold.
    fn check_complete(&self) -> anyhow::Result<()> {
        match self.waiting.iter().next() {
            None => Ok(()),
            Some((user, events)) => {
                let (version, event) = events.first_key_value().expect("no empty entries");
                anyhow::bail!(
                    "{} users have events that never fit: user {user}'s {} at version {version} \
                     ({}) follows no version {} in the log",
                    self.waiting.len(),
                    event.event.kind(),
                    event.position,
                    version - 1
                )
            }
        }
    }
}

//! Rebuilding `users_view` from the whole log while reads go on: replay into a copy aside, then
//! take the lease from the running projector and swap the copy in with one transaction.

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::db::begin_write;
use crate::domain::LogPosition;
use crate::entities::users_view_stats;
use crate::events;
use crate::projections::users_view::{self, REBUILD};
use crate::projections::{Lease, USERS_VIEW, save_checkpoint};

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

const COLUMNS: &str = "id, name, email, version, created_at, updated_at, ordinal";

/// Rebuilds `users_view` and its counts from the event log. Readers keep reading the old view
/// until the swap commits; the running projector is fenced off by the lease during the swap and
/// resumes from the new checkpoint afterwards.
pub async fn rebuild(
    write_db: &DatabaseConnection,
    read_db: &DatabaseConnection,
    batch_size: u64,
    lease_ttl: Duration,
) -> anyhow::Result<RebuildReport> {
    for sql in [
        "DROP TABLE IF EXISTS users_view_rebuild".to_owned(),
        "CREATE TABLE users_view_rebuild AS SELECT * FROM users_view WHERE 1 = 0".to_owned(),
        "CREATE UNIQUE INDEX users_view_rebuild_id ON users_view_rebuild (id)".to_owned(),
    ] {
        read_db
            .execute_unprepared(&sql)
            .await
            .with_context(|| sql.clone())?;
    }
    let mut replay = Replay {
        position: LogPosition::START,
        stats: users_view_stats::Model {
            id: users_view_stats::ROW_ID,
            user_count: 0,
            created_count: 0,
        },
        events: 0,
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

    let lease = Lease::new(
        USERS_VIEW,
        format!("rebuild-{}", uuid::Uuid::now_v7()),
        lease_ttl,
    );
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
        txn.execute_unprepared("DELETE FROM users_view").await?;
        txn.execute_unprepared(&format!(
            "INSERT INTO users_view ({COLUMNS}) SELECT {COLUMNS} FROM users_view_rebuild"
        ))
        .await?;
        users_view::save_stats(&txn, &replay.stats).await?;
        save_checkpoint(&txn, replay.position).await?;
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
        for event in &batch {
            users_view::apply(txn, REBUILD, &mut self.stats, event).await?;
            self.position = event.position;
        }
        let applied = batch.len() as u64;
        self.events += applied;
        Ok(applied)
    }
}

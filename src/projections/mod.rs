//! Projection: follows the event log in order and keeps the read model (`users_view`) up to date.
//!
//! The projector applies a batch of events and stores its checkpoint in the read database in the
//! same transaction, so a batch is applied entirely or not at all and no event is applied twice.
//! It reads the log with `events::read_after`, which never returns an event while an earlier one
//! may still commit, so it never skips one. It sleeps until a command commits (`appended`), with a
//! slow poll as a safety net, and stops between batches when asked to.

mod progress;
mod users_view;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{Set, Unchanged},
    DatabaseConnection, DbErr, EntityTrait, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
    sea_query::OnConflict,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::LogPosition;
use crate::entities::{projection_checkpoints, users_view_stats};
use crate::events::{self, ReadError};

pub use progress::ProjectionProgress;

/// The checkpoint name of the `users_view` projection.
pub const USERS_VIEW: &str = "users_view";

/// Why a batch could not be applied. The batch was rolled back; the projector retries it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("writing the read model failed: {0}")]
    Write(#[from] DbErr),
    /// The read model does not hold what the event expects (a bug, or a view edited by hand).
    #[error("event at {position} does not fit the read model: {detail}")]
    OutOfStep {
        position: LogPosition,
        detail: String,
    },
}

/// Tuning of the projector loop.
#[derive(Debug, Clone, Copy)]
pub struct ProjectorSettings {
    /// Events applied per transaction at most.
    pub batch_size: u64,
    /// How often to look at the log when no command woke the projector.
    pub poll_interval: Duration,
    /// How long to wait before retrying a failed batch.
    pub retry_delay: Duration,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// The `users_view` projector. `run` is its task.
pub struct Projector {
    pub write_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub progress: Arc<ProjectionProgress>,
    pub appended: Arc<Notify>,
    pub settings: ProjectorSettings,
}

impl Projector {
    /// Projects until `shutdown` is cancelled; a batch under way is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut checkpoint = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let step = async {
                let after = match checkpoint {
                    Some(position) => position,
                    None => load_checkpoint(&self.read_db).await?,
                };
                self.progress.advance(after);
                checkpoint = Some(after);
                self.apply_next_batch(after).await
            };
            let pause = match step.await {
                Ok(Some(applied_to)) => {
                    checkpoint = Some(applied_to);
                    self.progress.advance(applied_to);
                    self.progress.clear_failure();
                    continue;
                }
                Ok(None) => {
                    self.progress.clear_failure();
                    self.settings.poll_interval
                }
                Err(err) => {
                    tracing::error!(error = %err, "projection of users_view failed; retrying");
                    self.progress.fail(err.to_string());
                    self.settings.retry_delay
                }
            };
            tokio::select! {
                () = self.appended.notified() => {}
                () = tokio::time::sleep(pause) => {}
                () = shutdown.cancelled() => break,
            }
        }
        tracing::info!("projector stopped");
    }

    /// Applies the next batch after `after`; returns the new checkpoint, or `None` when caught up.
    async fn apply_next_batch(
        &self,
        after: LogPosition,
    ) -> Result<Option<LogPosition>, ProjectionError> {
        let batch = events::read_after(&self.write_db, after, self.settings.batch_size).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(None);
        };
        let txn = self
            .read_db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let mut stats = users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("users_view_stats row".into()))?;
        for event in &batch {
            users_view::apply(&txn, &mut stats, event).await?;
        }
        users_view_stats::ActiveModel {
            id: Unchanged(stats.id),
            user_count: Set(stats.user_count),
            created_count: Set(stats.created_count),
        }
        .update(&txn)
        .await?;
        save_checkpoint(&txn, USERS_VIEW, last).await?;
        txn.commit().await?;
        tracing::debug!(events = batch.len(), checkpoint = %last, "projected batch");
        Ok(Some(last))
    }
}

/// The checkpoint of `users_view`: the position of the last event applied, or `START`.
pub async fn load_checkpoint(db: &impl sea_orm::ConnectionTrait) -> Result<LogPosition, DbErr> {
    let row = projection_checkpoints::Entity::find_by_id(USERS_VIEW.to_owned())
        .one(db)
        .await?;
    Ok(row.map_or(LogPosition::START, |r| {
        LogPosition::new(r.tx_id, r.position)
    }))
}

async fn save_checkpoint(
    txn: &impl sea_orm::ConnectionTrait,
    projection: &str,
    position: LogPosition,
) -> Result<(), DbErr> {
    let row = projection_checkpoints::ActiveModel {
        projection: Set(projection.to_owned()),
        tx_id: Set(position.tx_id),
        position: Set(position.seq),
        updated_at: Set(Utc::now()),
    };
    projection_checkpoints::Entity::insert(row)
        .on_conflict(
            OnConflict::column(projection_checkpoints::Column::Projection)
                .update_columns([
                    projection_checkpoints::Column::TxId,
                    projection_checkpoints::Column::Position,
                    projection_checkpoints::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

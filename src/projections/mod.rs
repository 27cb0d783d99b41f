//! Projection: follows the event log in order and keeps the read model (`users_view`) up to date.
//!
//! One instance at a time projects: the holder of the `users_view` [`Lease`]. It applies a batch of
//! events and stores its checkpoint in the read database in the same transaction, renewing the
//! lease inside that transaction, so a batch is applied entirely or not at all, no event is applied
//! twice, and an instance that lost the lease cannot commit (a run of creates on PostgreSQL is
//! all of that in one statement: `at_once`). It reads the log with
//! `events::read_after`, which never returns an event while an earlier one may still commit, so it
//! never skips one. It sleeps until the log grows (`Wakeup`), with a slow poll as a safety net,
//! and stops between batches when asked to. Other instances follow the stored checkpoint and take
//! over when the lease expires.

mod at_once;
mod checkpoint;
mod lease;
mod memory;
mod rebuild;
mod status;
mod users_view;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::db::begin_write;
use crate::domain::LogPosition;
use crate::entities::users_view_stats;
use crate::events::{self, Pace, ReadError};
use crate::signals::{ProjectionProgress, Wakeup};
use crate::telemetry::{self, ProjectorMetrics};

pub use checkpoint::{load_checkpoint, recorded};
pub use lease::Lease;
pub use memory::{MemoryModel, MemoryStatus};
pub use rebuild::rebuild;
pub use status::{Status, snapshot, status};

use at_once::AtOnce;
use checkpoint::{record_failure, save_counts_and_checkpoint};

/// The checkpoint and lease name of the `users_view` projection.
pub const USERS_VIEW: &str = "users_view";

/// Why a batch could not be applied. The batch was rolled back; the projector retries it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("writing the read model failed: {0}")]
    Write(#[from] DbErr),
    /// The read model does not hold what the event expects (a bug, or a view edited by hand).
    #[error(
        "event at {position} does not fit the read model: {detail}; `cqrs-users projections rebuild` rebuilds the view from the log"
    )]
    OutOfStep {
        position: LogPosition,
        detail: String,
    },
    /// Another instance (or a rebuild) holds the lease now; this one must stop projecting.
    #[error("the projection lease was lost")]
    LostLease,
}

/// Tuning of the projector loop.
#[derive(Debug, Clone, Copy)]
pub struct ProjectorSettings {
    /// Events applied per transaction at most.
    pub batch_size: u64,
    /// How long a lease lasts without renewal: how soon another instance takes over from a dead one.
    pub lease_ttl: Duration,
    /// How long to wait before retrying a failed batch.
    pub retry_delay: Duration,
}

impl ProjectorSettings {
    /// How often to look at the log (leader) or the lease and checkpoint (follower) unprompted.
    fn poll_interval(&self) -> Duration {
        (self.lease_ttl / 4).min(Duration::from_secs(1))
    }
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            lease_ttl: Duration::from_secs(5),
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// The `users_view` projector of one instance. `run` is its task.
pub struct Projector {
    /// The write database, where the log is read (through the log readers' pool).
    pub log_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub progress: Arc<ProjectionProgress>,
    pub appended: Wakeup,
    pub lease: Lease,
    pub settings: ProjectorSettings,
    /// Its batches, failures and lease, in the server's metrics.
    pub metrics: ProjectorMetrics,
}

/// What the loop knows between steps.
struct State {
    leading: bool,
    /// The checkpoint as last stored by this leader; `None` until loaded after taking the lease.
    checkpoint: Option<LogPosition>,
    /// The view's counts as this leader last stored them; `None` until loaded in a batch. Only
    /// the lease's holder writes them (a rebuild takes the lease for its swap), so they stay
    /// exact while this instance leads; a new term or a failed batch loads them again.
    counts: Option<users_view_stats::Model>,
    failing: bool,
}

impl State {
    const FOLLOWING: State = State {
        leading: false,
        checkpoint: None,
        counts: None,
        failing: false,
    };
}

enum Next {
    /// More may be waiting: go again at once.
    Continue,
    /// Caught up or following: wait for a wake-up or this long.
    Idle(Duration),
    /// Failed: wait this long (wake-ups ignored).
    Retry(Duration),
}

impl Projector {
    /// Projects (or follows) until `shutdown` is cancelled; a batch under way is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut pace = Pace::new(&self.appended, self.settings.poll_interval());
        let mut state = State::FOLLOWING;
        while !shutdown.is_cancelled() {
            let pause = match self.step(&mut state, &mut pace).await {
                Next::Continue => continue,
                Next::Idle(pause) if state.leading => pause,
                Next::Idle(pause) | Next::Retry(pause) => {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            pace.wait(pause, &shutdown).await;
        }
        if state.leading
            && let Err(err) = self.lease.release(&self.read_db).await
        {
            tracing::warn!(error = %err, "could not release the projection lease");
        }
        self.metrics.leading(false);
        tracing::info!("projector stopped");
    }

    async fn step(&self, state: &mut State, pace: &mut Pace) -> Next {
        let poll = self.settings.poll_interval();
        if !state.leading {
            match self.lease.try_acquire(&self.read_db).await {
                Ok(true) => {
                    tracing::info!(
                        holder = self.lease.holder(),
                        "took the projection lease; projecting users_view"
                    );
                    state.leading = true;
                    state.checkpoint = None;
                    state.counts = None;
                    self.metrics.leading(true);
                }
                Ok(false) => {
                    // Following: keep this instance's view of the checkpoint fresh for token reads.
                    if let Ok(stored) = load_checkpoint(&self.read_db).await {
                        self.progress.advance(stored);
                    }
                    return Next::Idle(poll);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reach the projection lease");
                    return Next::Retry(self.settings.retry_delay);
                }
            }
        }
        match self.lead(state).await {
            Ok(Some(applied_to)) => {
                state.checkpoint = Some(applied_to);
                pace.moved_on();
                self.progress.advance(applied_to);
                if std::mem::take(&mut state.failing) {
                    tracing::info!("projection of users_view recovered");
                }
                Next::Continue
            }
            Ok(None) => match self.lease.renew(&self.read_db).await {
                Ok(true) => {
                    let after = state.checkpoint.unwrap_or(LogPosition::START);
                    Next::Idle(pace.caught_up(&self.log_db, after).await)
                }
                Ok(false) => self.lose_lease(state).await,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot renew the projection lease");
                    Next::Retry(self.settings.retry_delay)
                }
            },
            Err(ProjectionError::LostLease) => self.lose_lease(state).await,
            Err(err) => {
                tracing::error!(error = %err, "projection of users_view failed; retrying");
                self.metrics.failed();
                state.failing = true;
                // Reload before retrying: if the connection broke during a commit that went
                // through, the stored checkpoint is ahead of the one in memory.
                state.checkpoint = None;
                if let Err(db_err) = record_failure(&self.read_db, &err.to_string()).await {
                    tracing::warn!(error = %db_err, "could not record the projection failure");
                }
                Next::Retry(self.settings.retry_delay)
            }
        }
    }

    /// Stops leading. A rebuild takes the lease for its swap and hands it back: that is said as
    /// a hand-over; losing it to another instance (this one was too slow to renew) is a warning.
    async fn lose_lease(&self, state: &mut State) -> Next {
        let holder = self.lease.holder();
        match self.lease.current_holder(&self.read_db).await {
            Ok(Some(taker)) if lease::is_rebuild(&taker) => tracing::info!(
                holder,
                rebuild = taker,
                "the lease was handed to a rebuild; resuming after it"
            ),
            Ok(taker) => tracing::warn!(
                holder,
                taker,
                "lost the projection lease to another instance; following"
            ),
            Err(err) => {
                tracing::warn!(holder, error = %err, "lost the projection lease; following")
            }
        }
        *state = State::FOLLOWING;
        self.metrics.leading(false);
        Next::Retry(self.settings.poll_interval())
    }

    /// Applies the next batch after the checkpoint; the new checkpoint, or `None` when caught up.
    async fn lead(&self, state: &mut State) -> Result<Option<LogPosition>, ProjectionError> {
        let after = match state.checkpoint {
            Some(position) => position,
            None => {
                let stored = load_checkpoint(&self.read_db).await?;
                self.progress.advance(stored);
                state.checkpoint = Some(stored);
                stored
            }
        };
        let started = Instant::now();
        let batch = events::read_after(&self.log_db, after, self.settings.batch_size).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(None);
        };
        // Each batch is a trace of its own (the projector's task lasts as long as the server).
        let span = tracing::info_span!("projector_batch", events = batch.len(), after = %after);
        telemetry::traces::detach(&span);
        let counts = state.counts.take();
        let counts = self.apply(&batch, last, counts).instrument(span).await?;
        tracing::debug!(events = batch.len(), checkpoint = %last, "projected batch");
        state.counts = Some(counts);
        self.metrics.batch(batch.len(), started.elapsed());
        Ok(Some(last))
    }

    /// Applies `batch`, whose last event is at `last`, in one transaction with the checkpoint
    /// and the view's counts (`counts` as this leader stored them last, or loaded here); the
    /// counts stored. A run of creates with the counts known is one statement (`at_once`).
    async fn apply(
        &self,
        batch: &[events::RecordedEvent],
        last: LogPosition,
        counts: Option<users_view_stats::Model>,
    ) -> Result<users_view_stats::Model, ProjectionError> {
        if let Some(stored) = &counts
            && at_once::fits(self.read_db.get_database_backend(), batch)
        {
            match at_once::apply_creates(&self.read_db, &self.lease, stored, batch, last).await? {
                AtOnce::Applied(stats) => return Ok(stats),
                AtOnce::LostLease => return Err(ProjectionError::LostLease),
                // The explicit transaction below finds the same and names the event.
                AtOnce::DoesNotFit => {}
            }
        }
        let txn = begin_write(&self.read_db).await?;
        if !self.lease.renew(&txn).await? {
            return Err(ProjectionError::LostLease);
        }
        let mut stats = match counts {
            Some(counts) => counts,
            None => load_stats(&txn).await?,
        };
        users_view::apply(&txn, users_view::LIVE, &mut stats, batch).await?;
        save_counts_and_checkpoint(&txn, &stats, last).await?;
        txn.commit().await?;
        Ok(stats)
    }
}

/// Refuses a read model whose checkpoint is past the end of the log: the write database lost
/// events the view applied (restored from a backup, or its last commits lost in a crash). New
/// events would be appended at positions the projector believes it has passed, and be skipped.
pub async fn check_not_ahead_of_log(
    log_db: &DatabaseConnection,
    read_db: &DatabaseConnection,
) -> anyhow::Result<()> {
    let checkpoint = load_checkpoint(read_db).await?;
    let head = events::head(log_db).await?;
    anyhow::ensure!(
        checkpoint <= head,
        "the read model's checkpoint {checkpoint} is ahead of the event log, which ends at {head}: \
         the write database has lost events the read model applied (restored from a backup, or \
         its last commits lost in a crash), and new events would be skipped. Rebuild the read \
         model from the log as it is with `cqrs-users projections rebuild --accept-lost-events` \
         (same database flags), then start again"
    );
    Ok(())
}

async fn load_stats(db: &impl ConnectionTrait) -> Result<users_view_stats::Model, DbErr> {
    users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("users_view_stats row".into()))
}

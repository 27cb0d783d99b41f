//! `projections status`: where the projection stands against the log, who runs it, and why it fails.

use std::fmt;

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QuerySelect};

use crate::domain::LogPosition;
use crate::entities::{projection_leases, users_view_stats};
use crate::events;
use crate::projections::{USERS_VIEW, checkpoint, lease};
use crate::telemetry::ProjectionSnapshot;

/// A snapshot of the `users_view` projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub checkpoint: LogPosition,
    pub head: LogPosition,
    /// Events in the log after the checkpoint.
    pub lag: u64,
    pub users: i64,
    /// The lease holder and the milliseconds its lease has left (negative: expired).
    pub leader: Option<(String, i64)>,
    /// Why the projector is failing, while it is.
    pub last_error: Option<String>,
}

pub async fn status(
    write_db: &DatabaseConnection,
    read_db: &DatabaseConnection,
) -> Result<Status, DbErr> {
    let (checkpoint, last_error) = checkpoint::recorded(read_db).await?;
    let users = users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
        .one(read_db)
        .await?
        .map_or(0, |s| s.user_count);
    let remaining_ms = Expr::col(projection_leases::Column::ExpiresAtMs)
        .sub(lease::now_ms(read_db.get_database_backend()));
    let leader = projection_leases::Entity::find_by_id(USERS_VIEW.to_owned())
        .select_only()
        .column(projection_leases::Column::Holder)
        .column_as(remaining_ms, "remaining_ms")
        .into_tuple::<(String, i64)>()
        .one(read_db)
        .await?;
    Ok(Status {
        checkpoint,
        head: events::head(write_db).await?,
        lag: events::count_after(write_db, checkpoint).await?,
        users,
        leader,
        last_error,
    })
}

/// Where the projection stands, for `/metrics`: the checkpoint, the log's head, the events
/// between them, and how long the oldest of those the projector could apply has waited (the
/// first the log's readers can see after the checkpoint, by the time its command stamped it;
/// events held back behind a running transaction count in `lag_events` only).
pub async fn snapshot(
    log_db: &DatabaseConnection,
    read_db: &DatabaseConnection,
) -> anyhow::Result<ProjectionSnapshot> {
    let checkpoint = checkpoint::load_checkpoint(read_db).await?;
    let head = events::head(log_db).await?;
    let lag_events = events::count_after(log_db, checkpoint).await?;
    let oldest = events::read_after(log_db, checkpoint, 1).await?;
    let lag_seconds = oldest.first().map_or(0.0, |event| {
        let waited = chrono::Utc::now() - event.occurred_at;
        Ord::max(waited.num_milliseconds(), 0) as f64 / 1e3
    });
    Ok(ProjectionSnapshot {
        checkpoint: checkpoint.seq,
        head: head.seq,
        lag_events,
        lag_seconds,
    })
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "projection  {USERS_VIEW}")?;
        writeln!(f, "checkpoint  {}", self.checkpoint)?;
        writeln!(f, "log head    {}", self.head)?;
        writeln!(f, "lag         {} events", self.lag)?;
        writeln!(f, "users       {}", self.users)?;
        match &self.leader {
            Some((holder, left)) if *left > 0 && lease::is_rebuild(holder) => writeln!(
                f,
                "leader      handed over to a rebuild ({holder}, lease: {left} ms left)"
            )?,
            Some((holder, left)) if *left > 0 => {
                writeln!(f, "leader      {holder} (lease: {left} ms left)")?
            }
            Some((holder, _)) if lease::is_rebuild(holder) => writeln!(
                f,
                "leader      none: a rebuild ({holder}) handed the lease back; a running server \
                 takes it within a second"
            )?,
            Some((holder, _)) => writeln!(f, "leader      none (last: {holder}, lease expired)")?,
            None => writeln!(f, "leader      none yet")?,
        }
        match &self.last_error {
            Some(error) => writeln!(f, "state       FAILING: {error}"),
            None => writeln!(f, "state       ok"),
        }
    }
}

//! `projections status`: where the projection stands against the log, who runs it, and why it fails.

use std::fmt;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Statement};

use crate::domain::LogPosition;
use crate::entities::{projection_checkpoints, users_view_stats};
use crate::events;
use crate::projections::{USERS_VIEW, lease};

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

/// What the read database records of the projection: its checkpoint and its failure, if any.
/// Cheap (one row); `/readyz` shows it on every instance.
pub async fn recorded(
    read_db: &impl ConnectionTrait,
) -> Result<(LogPosition, Option<String>), DbErr> {
    let row = projection_checkpoints::Entity::find_by_id(USERS_VIEW.to_owned())
        .one(read_db)
        .await?;
    Ok(row.map_or((LogPosition::START, None), |r| {
        (LogPosition::new(r.tx_id, r.position), r.last_error)
    }))
}

pub async fn status(
    write_db: &DatabaseConnection,
    read_db: &DatabaseConnection,
) -> Result<Status, DbErr> {
    let (checkpoint, last_error) = recorded(read_db).await?;
    let users = users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
        .one(read_db)
        .await?
        .map_or(0, |s| s.user_count);
    let backend = read_db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let leader = read_db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT holder, expires_at_ms - {} AS remaining_ms FROM projection_leases WHERE projection = {placeholder}",
                lease::now_ms(backend)
            ),
            [USERS_VIEW.into()],
        ))
        .await?
        .map(|r| Ok::<_, DbErr>((r.try_get("", "holder")?, r.try_get("", "remaining_ms")?)))
        .transpose()?;
    Ok(Status {
        checkpoint,
        head: events::head(write_db).await?,
        lag: events::count_after(write_db, checkpoint).await?,
        users,
        leader,
        last_error,
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
            Some((holder, left)) if *left > 0 => {
                writeln!(f, "leader      {holder} (lease: {left} ms left)")?
            }
            Some((holder, _)) => writeln!(f, "leader      none (last: {holder}, lease expired)")?,
            None => writeln!(f, "leader      none yet")?,
        }
        match &self.last_error {
            Some(error) => writeln!(f, "state       FAILING: {error}"),
            None => writeln!(f, "state       ok"),
        }
    }
}

//! The event log: what happened to users, appending one event, and reading the log in its global order.
//!
//! The log's order is `(tx_id, position)`. On PostgreSQL, transactions can commit out of `position`
//! order (10 becomes visible after 11), so a reader that asked for "position > checkpoint" would
//! skip 10 for good. Instead every event carries the id of the transaction that appended it, and
//! [`read_after`] returns only events of transactions older than the oldest one still running
//! (`pg_snapshot_xmin`): no event can later appear before what it returned. On SQLite, writers are
//! serialised, so commit order is `position` order and `tx_id` is always 0.

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    NotSet, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};

use crate::domain::{LogPosition, UserId};
use crate::entities::user_events;

/// Something that happened to a user. Each variant carries all the read side needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    UserCreated {
        name: String,
        email: String,
    },
    UserRenamed {
        previous_name: String,
        new_name: String,
    },
    UserDeleted,
}

impl UserEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            UserEvent::UserCreated { .. } => "UserCreated",
            UserEvent::UserRenamed { .. } => "UserRenamed",
            UserEvent::UserDeleted => "UserDeleted",
        }
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: LogPosition,
    pub user_id: UserId,
    /// The user's version after this event.
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    pub event: UserEvent,
}

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the event log failed")]
    Database(#[from] sea_orm::DbErr),
    /// A stored event does not decode: the log holds something this version cannot apply.
    #[error("event at {position} ({event_type}) is malformed: {reason}")]
    Malformed {
        position: LogPosition,
        event_type: String,
        reason: String,
    },
}

/// Appends `event` as the user's `version`, inside the caller's transaction, and returns its position.
pub async fn append(
    txn: &impl ConnectionTrait,
    user_id: UserId,
    version: i32,
    occurred_at: DateTime<Utc>,
    event: UserEvent,
) -> anyhow::Result<LogPosition> {
    let row = user_events::ActiveModel {
        position: NotSet,
        tx_id: NotSet,
        user_id: Set(user_id.as_uuid()),
        version: Set(version),
        event_type: Set(event.kind().to_owned()),
        payload: Set(serde_json::to_value(&event).context("encode event")?),
        occurred_at: Set(occurred_at),
    }
    .insert(txn)
    .await
    .with_context(|| format!("append {} for user {user_id}", event.kind()))?;
    Ok(LogPosition::new(row.tx_id, row.position))
}

/// The position of the user's latest event, if the user has any.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    user_id: UserId,
) -> anyhow::Result<Option<LogPosition>> {
    let row = user_events::Entity::find()
        .filter(user_events::Column::UserId.eq(user_id.as_uuid()))
        .order_by_desc(user_events::Column::Version)
        .limit(1)
        .one(db)
        .await
        .context("find the user's latest event")?;
    Ok(row.map(|r| LogPosition::new(r.tx_id, r.position)))
}

/// Up to `limit` events after `after`, in log order, of transactions that can no longer commit
/// anything before them (see the module doc).
pub async fn read_after(
    db: &impl ConnectionTrait,
    after: LogPosition,
    limit: u64,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT position, tx_id, user_id, version, event_type, payload, occurred_at \
             FROM user_events \
             WHERE (tx_id, position) > ($1, $2) \
               AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             ORDER BY tx_id, position LIMIT $3"
        }
        _ => {
            "SELECT position, tx_id, user_id, version, event_type, payload, occurred_at \
             FROM user_events WHERE (tx_id, position) > (?, ?) \
             ORDER BY tx_id, position LIMIT ?"
        }
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [after.tx_id.into(), after.seq.into(), limit.into()],
    );
    let rows = user_events::Entity::find()
        .from_raw_sql(stmt)
        .all(db)
        .await?;
    rows.into_iter().map(decode).collect()
}

/// The position of the newest event in the log, or `LogPosition::START` for an empty log.
pub async fn head(db: &impl ConnectionTrait) -> Result<LogPosition, sea_orm::DbErr> {
    let row = user_events::Entity::find()
        .order_by_desc(user_events::Column::TxId)
        .order_by_desc(user_events::Column::Position)
        .limit(1)
        .one(db)
        .await?;
    Ok(row.map_or(LogPosition::START, |r| {
        LogPosition::new(r.tx_id, r.position)
    }))
}

/// How many events the log holds after `after`.
pub async fn count_after(
    db: &impl ConnectionTrait,
    after: LogPosition,
) -> Result<u64, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM user_events WHERE (tx_id, position) > ($1, $2)"
        }
        _ => "SELECT COUNT(*) AS n FROM user_events WHERE (tx_id, position) > (?, ?)",
    };
    let stmt = Statement::from_sql_and_values(backend, sql, [after.tx_id.into(), after.seq.into()]);
    let row = db.query_one_raw(stmt).await?;
    let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether committed events after `after` are held back by an older transaction still running
/// (PostgreSQL; never on SQLite). When that transaction ends without appending, nothing
/// announces it, so a follower that sees this looks again soon (see [`Recheck`]).
pub async fn held_back(
    db: &impl ConnectionTrait,
    after: LogPosition,
) -> Result<bool, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(false);
    }
    let sql = "SELECT EXISTS (SELECT 1 FROM user_events WHERE (tx_id, position) > ($1, $2) \
               AND tx_id >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint) AS held";
    let stmt = Statement::from_sql_and_values(backend, sql, [after.tx_id.into(), after.seq.into()]);
    let row = db.query_one_raw(stmt).await?;
    Ok(row
        .map(|r| r.try_get("", "held"))
        .transpose()?
        .unwrap_or(false))
}

/// How soon a follower of the log looks again while events are held back: 10 ms, doubling up
/// to `ceiling` (its ordinary poll) but never past 1 s, back to 10 ms once it moves on. The cap
/// keeps a follower with a long poll from sleeping for many seconds after the transaction that
/// held it back ended (a look is one cheap `EXISTS`, and only while events are held back).
#[derive(Debug, Clone)]
pub struct Recheck {
    next: Duration,
    ceiling: Duration,
}

impl Recheck {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    pub fn new(ceiling: Duration) -> Self {
        Self {
            next: Self::FIRST,
            ceiling: ceiling.min(Self::MOST),
        }
    }

    pub fn delay(&mut self) -> Duration {
        let delay = self.next.min(self.ceiling);
        self.next = (self.next * 2).min(self.ceiling);
        delay
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// The last event a reader can see now without risking a gap: the newest of the transactions
/// older than every running one (see [`read_after`]). Followers of the live log start here.
pub async fn visible_head(db: &impl ConnectionTrait) -> Result<LogPosition, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT tx_id, position FROM user_events \
             WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             ORDER BY tx_id DESC, position DESC LIMIT 1"
        }
        _ => "SELECT tx_id, position FROM user_events ORDER BY tx_id DESC, position DESC LIMIT 1",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    match row {
        Some(r) => Ok(LogPosition::new(
            r.try_get("", "tx_id")?,
            r.try_get("", "position")?,
        )),
        None => Ok(LogPosition::START),
    }
}

fn decode(row: user_events::Model) -> Result<RecordedEvent, ReadError> {
    let position = LogPosition::new(row.tx_id, row.position);
    let event: UserEvent =
        serde_json::from_value(row.payload).map_err(|e| ReadError::Malformed {
            position,
            event_type: row.event_type.clone(),
            reason: e.to_string(),
        })?;
    if event.kind() != row.event_type {
        return Err(ReadError::Malformed {
            position,
            event_type: row.event_type,
            reason: format!("payload is a {}", event.kind()),
        });
    }
    Ok(RecordedEvent {
        position,
        user_id: row.user_id.into(),
        version: row.version,
        occurred_at: row.occurred_at,
        event,
    })
}

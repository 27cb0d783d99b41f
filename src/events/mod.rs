//! The event log: what happened to users, appending one event, and reading the log in its global order.
//!
//! The log's order is `(tx_id, position)`. On PostgreSQL, transactions can commit out of `position`
//! order (10 becomes visible after 11), so a reader that asked for "position > checkpoint" would
//! skip 10 for good. Instead every event carries the id of the transaction that appended it, and
//! [`read_after`] returns only events of transactions older than the oldest one of this database
//! still running (see `OLDEST_RUNNING_HERE`): no event can later appear before what it returned. On SQLite, writers are
//! serialised, so commit order is `position` order and `tx_id` is always 0.

mod follow;
mod order;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, NotSet, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};
use serde::{Deserialize, Serialize};

use crate::domain::{Caller, LogPosition, UserId};
use crate::entities::user_events;

pub use follow::Pace;
use order::{
    after_position, in_log_order, newest_first, oldest_running_tx, position_of_first, settled,
};

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
    /// Who caused it (`None` for events from before actors were recorded).
    pub actor: Option<String>,
    /// The request that caused it (`None` for events from before it was recorded).
    pub correlation_id: Option<String>,
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

/// Appends `event` as the user's `version`, caused by `caller`, inside the given transaction, and
/// returns its position.
pub async fn append(
    txn: &impl ConnectionTrait,
    user_id: UserId,
    version: i32,
    occurred_at: DateTime<Utc>,
    event: UserEvent,
    caller: &Caller,
) -> anyhow::Result<LogPosition> {
    let row = user_events::ActiveModel {
        position: NotSet,
        tx_id: NotSet,
        user_id: Set(user_id.as_uuid()),
        version: Set(version),
        event_type: Set(event.kind().to_owned()),
        payload: Set(serde_json::to_value(&event).context("encode event")?),
        occurred_at: Set(occurred_at),
        actor: Set(Some(caller.identity.actor().to_owned())),
        correlation_id: Set(Some(caller.correlation_id.to_string())),
    }
    .insert(txn)
    .await
    .with_context(|| format!("append {} for user {user_id}", event.kind()))?;
    Ok(row.log_position())
}

/// A change to the write model that an event is appended with, in one statement (PostgreSQL):
/// `ctes`, a `WITH` list whose last query is named `changed` and returns one row when the change
/// was made, none when it was not; its parameters `$1`, `$2`, … are `values`.
pub struct WithChange<'a> {
    pub ctes: &'a str,
    pub values: Vec<Value>,
}

/// [`append`], in the same statement as the change that causes it (PostgreSQL, whose
/// data-modifying CTEs make the change and the event one round trip; a rename's or a delete's,
/// in its transaction). The event's position, or `None` when `changed` returned no row: then the
/// statement appended nothing.
pub async fn append_with(
    db: &impl ConnectionTrait,
    with: WithChange<'_>,
    user_id: UserId,
    version: i32,
    occurred_at: DateTime<Utc>,
    event: &UserEvent,
    caller: &Caller,
) -> anyhow::Result<Option<LogPosition>> {
    let WithChange { ctes, mut values } = with;
    let event_values = event_values(user_id, version, occurred_at, event, caller)?;
    let first = values.len() + 1;
    let params: Vec<String> = (first..first + event_values.len())
        .map(|n| format!("${n}"))
        .collect();
    // The same text every time for a given change, so each connection prepares it once.
    let sql = format!(
        "WITH {ctes} INSERT INTO user_events \
         (user_id, version, event_type, payload, occurred_at, actor, correlation_id) \
         SELECT {} FROM changed RETURNING tx_id, position",
        params.join(", ")
    );
    values.extend(event_values);
    let appended = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .with_context(|| format!("change user {user_id} and append {}", event.kind()))?;
    let Some(row) = appended else {
        return Ok(None);
    };
    let tx_id = row
        .try_get("", "tx_id")
        .context("read the appended event's tx_id")?;
    let seq = row
        .try_get("", "position")
        .context("read the appended event's position")?;
    Ok(Some(LogPosition::new(tx_id, seq)))
}

/// The columns of an event's row as a command writes it, in [`event_values`]' order.
pub const EVENT_COLUMNS: [user_events::Column; 7] = [
    user_events::Column::UserId,
    user_events::Column::Version,
    user_events::Column::EventType,
    user_events::Column::Payload,
    user_events::Column::OccurredAt,
    user_events::Column::Actor,
    user_events::Column::CorrelationId,
];

/// The row that appends `event` as the user's `version`, caused by `caller`, in
/// [`EVENT_COLUMNS`]' order: [`append_with`]'s parameters, and the rows of a batch of SQLite
/// creates. The database numbers it (`tx_id`, `position`).
pub fn event_values(
    user_id: UserId,
    version: i32,
    occurred_at: DateTime<Utc>,
    event: &UserEvent,
    caller: &Caller,
) -> anyhow::Result<[Value; 7]> {
    Ok([
        user_id.as_uuid().into(),
        version.into(),
        event.kind().into(),
        serde_json::to_value(event).context("encode event")?.into(),
        occurred_at.into(),
        caller.identity.actor().into(),
        caller.correlation_id.to_string().into(),
    ])
}

/// The position of the user's latest event, if the user has any.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    user_id: UserId,
) -> anyhow::Result<Option<LogPosition>> {
    let latest = user_events::Entity::find()
        .filter(user_events::Column::UserId.eq(user_id.as_uuid()))
        .order_by_desc(user_events::Column::Version);
    position_of_first(db, latest)
        .await
        .context("find the user's latest event")
}

/// Up to `limit` events after `after`, in log order, of transactions that can no longer commit
/// anything before them (see the module doc).
pub async fn read_after(
    db: &impl ConnectionTrait,
    after: LogPosition,
    limit: u64,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let backend = db.get_database_backend();
    let rows = settled(db, in_log_order(backend, after_position(backend, after)))
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().map(decode).collect()
}

/// The position of the newest event in the log, or `LogPosition::START` for an empty log.
pub async fn head(db: &impl ConnectionTrait) -> Result<LogPosition, DbErr> {
    let events = newest_first(db.get_database_backend(), user_events::Entity::find());
    let newest = position_of_first(db, events).await?;
    Ok(newest.unwrap_or(LogPosition::START))
}

/// The last event a reader can see now without risking a gap: the newest of the transactions
/// older than every running one (see [`read_after`]). Followers of the live log start here.
pub async fn visible_head(db: &impl ConnectionTrait) -> Result<LogPosition, DbErr> {
    let events = newest_first(db.get_database_backend(), user_events::Entity::find());
    let newest = settled(db, events);
    Ok(position_of_first(db, newest)
        .await?
        .unwrap_or(LogPosition::START))
}

/// How many events the log holds after `after`.
pub async fn count_after(db: &impl ConnectionTrait, after: LogPosition) -> Result<u64, DbErr> {
    after_position(db.get_database_backend(), after)
        .count(db)
        .await
}

/// Whether the log holds committed events after `after`. A follower asks this once it has read
/// all [`read_after`] returned: events it still finds are held back by an older transaction still
/// running (PostgreSQL), or were committed since. When that transaction ends without appending,
/// nothing announces it, so a follower that sees this looks again soon (see [`Pace`]).
///
/// Deliberately not "events of transactions newer than the oldest running one": that asks a
/// second snapshot, and a transaction that ended between the read and this question would hide
/// the events it held back, leaving the follower asleep for a whole poll with events to read.
pub async fn unread_after(db: &impl ConnectionTrait, after: LogPosition) -> Result<bool, DbErr> {
    if oldest_running_tx(db.get_database_backend()).is_none() {
        // SQLite commits in log order: nothing is held back, and what was committed since the
        // read woke the follower already.
        return Ok(false);
    }
    let backend = db.get_database_backend();
    Ok(
        position_of_first(db, in_log_order(backend, after_position(backend, after)))
            .await?
            .is_some(),
    )
}

fn decode(row: user_events::Model) -> Result<RecordedEvent, ReadError> {
    let position = row.log_position();
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
        actor: row.actor,
        correlation_id: row.correlation_id,
    })
}

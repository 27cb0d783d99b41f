//! A batch of creates on PostgreSQL in one statement: the lease's renewal, the rows, the counts
//! and the checkpoint, in one implicit transaction. One round trip where the explicit
//! transaction takes five (`BEGIN`, lease, rows, counts and checkpoint, `COMMIT`), each waiting
//! its turn on a server the writers keep busy.
//!
//! The guarantees are those of the explicit transaction:
//! - Fenced: the rows and the counts are written only if the lease's renewal found it ours, and
//!   the lease is renewed before any row is touched (the same order as the explicit transaction
//!   and a rebuild's swap, so neither can wait on the other in a cycle).
//! - All or nothing: the checkpoint's position is `NULL` unless every row was inserted and the
//!   counts' row was written, and PostgreSQL refuses a `NULL` position, which aborts the
//!   statement and so everything it wrote. The batch then goes the explicit way, which names the
//!   event that does not fit.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::prelude::Uuid;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, RuntimeErr, Statement};
use serde::Serialize;

use crate::domain::LogPosition;
use crate::entities::users_view_stats;
use crate::events::{RecordedEvent, UserEvent};
use crate::projections::checkpoint::{CHECKPOINT_INSERT, CHECKPOINT_UPDATE};
use crate::projections::lease::{Lease, POSTGRES_NOW_MS};
use crate::projections::users_view::MOST_ROWS_PER_INSERT;

/// Parameters: `$1` the projection, `$2` the holder, `$3` the lease's lifetime in ms, `$4` the
/// rows as a JSON array, `$5`..`$7` the counts and their row's id, `$8`, `$9` the checkpoint,
/// `$10` how many rows, `$11` the time written.
static CREATES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH lease AS (\
           UPDATE projection_leases SET expires_at_ms = {POSTGRES_NOW_MS} + $3 \
           WHERE projection = $1 AND holder = $2 RETURNING 1), \
         created AS (\
           INSERT INTO users_view (id, name, email, version, created_at, updated_at, ordinal) \
           SELECT r.id, r.name, r.email, r.version, r.at, r.at, r.ordinal \
           FROM json_to_recordset($4::json) \
             AS r(id uuid, name text, email text, version integer, at timestamptz, ordinal bigint) \
           WHERE EXISTS (SELECT FROM lease) \
           ON CONFLICT (id) DO NOTHING RETURNING 1), \
         counts AS (\
           UPDATE users_view_stats SET user_count = $5, created_count = $6 \
           WHERE id = $7 AND EXISTS (SELECT FROM lease) RETURNING 1) \
         {CHECKPOINT_INSERT} \
         SELECT $1, $8, \
           CASE WHEN (SELECT count(*) FROM created) = $10 AND EXISTS (SELECT FROM counts) \
             THEN $9::bigint END, \
           $11, NULL \
         FROM lease {CHECKPOINT_UPDATE}"
    )
});

/// What became of a batch sent as one statement.
pub(super) enum AtOnce {
    /// Applied and committed, with these counts.
    Applied(users_view_stats::Model),
    /// The lease is not ours: nothing was written.
    LostLease,
    /// A row was in the view already, the counts' row is missing, or the batch is not all
    /// creates: nothing was written; the explicit transaction applies it or says which event
    /// does not fit.
    DoesNotFit,
}

/// Whether `batch` can go as one statement: PostgreSQL, creates only, no more than the explicit
/// path writes in one `INSERT`.
pub(super) fn fits(backend: DbBackend, batch: &[RecordedEvent]) -> bool {
    backend == DbBackend::Postgres
        && batch.len() <= MOST_ROWS_PER_INSERT
        && batch
            .iter()
            .all(|e| matches!(e.event, UserEvent::UserCreated { .. }))
}

/// A row of `users_view` as the statement reads it from JSON.
#[derive(Serialize)]
struct Row<'a> {
    id: Uuid,
    name: &'a str,
    email: &'a str,
    version: i32,
    at: DateTime<Utc>,
    ordinal: i64,
}

/// Applies `batch` (creates only, see [`fits`]), whose last event is at `last`, onto `counts` as
/// this leader stored them, in one statement.
pub(super) async fn apply_creates(
    db: &impl ConnectionTrait,
    lease: &Lease,
    counts: &users_view_stats::Model,
    batch: &[RecordedEvent],
    last: LogPosition,
) -> Result<AtOnce, DbErr> {
    let mut ordinal = counts.created_count;
    let rows: Option<Vec<Row<'_>>> = batch
        .iter()
        .map(|event| match &event.event {
            UserEvent::UserCreated { name, email } => {
                ordinal += 1;
                Some(Row {
                    id: event.user_id.as_uuid(),
                    name,
                    email,
                    version: event.version,
                    at: event.occurred_at,
                    ordinal,
                })
            }
            _ => None,
        })
        .collect();
    // An event that is not a create would be passed over with the checkpoint moving past it:
    // such a batch goes the explicit way, whatever `fits` said.
    let Some(rows) = rows else {
        return Ok(AtOnce::DoesNotFit);
    };
    let created = rows.len() as i64;
    let rows = serde_json::to_string(&rows).map_err(|e| DbErr::Custom(e.to_string()))?;
    let after = users_view_stats::Model {
        id: counts.id,
        user_count: counts.user_count + created,
        created_count: counts.created_count + created,
    };
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        CREATES.as_str(),
        [
            lease.projection().into(),
            lease.holder().into(),
            lease.ttl_ms().into(),
            rows.into(),
            after.user_count.into(),
            after.created_count.into(),
            after.id.into(),
            last.tx_id.into(),
            last.seq.into(),
            created.into(),
            Utc::now().into(),
        ],
    );
    match db.execute_raw(statement).await {
        Ok(done) if done.rows_affected() == 1 => Ok(AtOnce::Applied(after)),
        Ok(_) => Ok(AtOnce::LostLease),
        // The `NULL` position: the statement, and so the whole batch, was refused.
        Err(err) if refused_a_null(&err) => Ok(AtOnce::DoesNotFit),
        Err(err) => Err(err),
    }
}

/// Whether PostgreSQL refused the statement for a `NULL` in a `NOT NULL` column.
fn refused_a_null(err: &DbErr) -> bool {
    use sea_orm::sqlx::error::ErrorKind;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .is_some_and(|db| db.kind() == ErrorKind::NotNullViolation),
        _ => false,
    }
}

//! A batch of creates on PostgreSQL: one statement, its own transaction. The rows and events
//! travel as one array a column, so the statement's text is the same whatever the batch's size
//! and each connection prepares it once.
//!
//! The statement first waits for the turns of all the batch's addresses (`turn`, in the order of
//! their keys), and only then writes: the insert into `users` reads its rows through a sort over
//! the batch and `turn`'s count, and the sort reads everything before it yields a row. The first
//! write gives the transaction its id, so a command that held one of the turns has committed by
//! then and this batch sorts after it in the log (`turn.rs`). The unique index on the address
//! decides which rows go in; each of those users' `UserCreated` follows in the batch's order.

use std::sync::LazyLock;

use anyhow::Context as _;
use sea_orm::sea_query::ArrayType;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::{Failed, Queued, Written, positions};
use crate::commands::create_user::row_values;
use crate::commands::turn;

/// The element types of the statement's arrays: `row_values`' six, then `event_values`' seven.
const ARRAYS: [ArrayType; 13] = [
    ArrayType::Uuid,
    ArrayType::String,
    ArrayType::String,
    ArrayType::Int,
    ArrayType::ChronoDateTimeUtc,
    ArrayType::ChronoDateTimeUtc,
    ArrayType::Uuid,
    ArrayType::Int,
    ArrayType::String,
    ArrayType::Json,
    ArrayType::ChronoDateTimeUtc,
    ArrayType::String,
    ArrayType::String,
];

/// The whole batch (see the module's doc).
static CREATED_IN_TURN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH batch AS MATERIALIZED (\
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], \
             $5::timestamptz[], $6::timestamptz[], $7::uuid[], $8::int[], $9::text[], \
             $10::json[], $11::timestamptz[], $12::text[], $13::text[]) WITH ORDINALITY \
           AS b(id, name, email, version, created_at, updated_at, event_user_id, \
             event_version, event_type, payload, occurred_at, actor, correlation_id, n)), \
         {}, \
         changed AS (\
           INSERT INTO users (id, name, email, version, created_at, updated_at) \
           SELECT id, name, email, version, created_at, updated_at FROM batch \
           WHERE (SELECT count(*) FROM turn) >= 0 ORDER BY n \
           ON CONFLICT (email) DO NOTHING RETURNING id) \
         INSERT INTO user_events \
           (user_id, version, event_type, payload, occurred_at, actor, correlation_id) \
         SELECT event_user_id, event_version, event_type, payload, occurred_at, actor, \
           correlation_id \
         FROM batch JOIN changed USING (id) ORDER BY n \
         RETURNING user_id, tx_id, position",
        turn::emails_in_statement("batch")
    )
});

/// Writes `batch` in one statement.
pub(super) async fn write(db: &DatabaseConnection, batch: &[Queued]) -> Result<Written, Failed> {
    let values = arrays(batch)
        .context("encode a batch of creates")
        .map_err(Failed::Final)?;
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, &*CREATED_IN_TURN, values);
    let rows = db
        .query_all_raw(statement)
        .await
        .context("create users and append their events")
        .map_err(|err| match crate::db::is_unavailable(&err) {
            // No connection, or lost while the statement ran: its outcome is unknown.
            true => Failed::Final(err),
            false => Failed::RolledBack(err),
        })?;
    positions(&rows)
        .context("read the appended events' positions")
        .map_err(Failed::Final)
}

/// The batch's rows and events as the statement's arrays, one a column.
fn arrays(batch: &[Queued]) -> anyhow::Result<Vec<Value>> {
    let mut columns: Vec<Vec<Value>> = ARRAYS
        .iter()
        .map(|_| Vec::with_capacity(batch.len()))
        .collect();
    for create in batch {
        let event = create.event_values()?;
        let row = row_values(&create.change.value).into_iter().chain(event);
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    Ok(ARRAYS
        .into_iter()
        .zip(columns)
        .map(|(element, column)| Value::Array(element, Some(Box::new(column))))
        .collect())
}

//! A batch of creates on PostgreSQL: one statement, its own transaction. The rows and events
//! travel as one array a column, so the statement's text is the same whatever the batch's size
//! and each connection prepares it once.
//!
//! The statement first tries the turns of all the batch's addresses (`turn`), and only then
//! writes: the insert into `users` reads its rows under a filter on `turn`'s count, which reads
//! all of it before the first row goes in. The first write gives the transaction its id, so a
//! command that held one of the turns before has committed by then, and this batch sorts after
//! it in the log (`turn.rs`). It writes only the creates whose turn it holds; the unique index on
//! the address decides which of their rows go in, and each of those users' `UserCreated` follows
//! in the batch's order. A create whose turn another command holds is left out (`Written::busy`)
//! and then written alone in a transaction of its own that waits for the turn (`write_waiting`),
//! so it holds up no other create.

use std::sync::LazyLock;

use anyhow::Context as _;
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::ArrayType;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::{Failed, Queued, Written};
use crate::commands::create_user::row_values;
use crate::commands::turn;
use crate::domain::LogPosition;

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

/// The whole batch (see the module's doc): a row per create, its turn `held` or not, and its
/// event's `tx_id` and `position` if it was appended.
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
           SELECT id, name, email, version, created_at, updated_at \
           FROM batch JOIN turn ON key = hashtext(email) \
           WHERE held AND (SELECT count(*) FROM turn) > 0 ORDER BY n \
           ON CONFLICT (email) DO NOTHING RETURNING id), \
         appended AS (\
           INSERT INTO user_events \
             (user_id, version, event_type, payload, occurred_at, actor, correlation_id) \
           SELECT event_user_id, event_version, event_type, payload, occurred_at, actor, \
             correlation_id \
           FROM batch JOIN changed USING (id) ORDER BY n \
           RETURNING user_id, tx_id, position) \
         SELECT id, held, tx_id, position \
         FROM batch JOIN turn ON key = hashtext(email) LEFT JOIN appended ON user_id = id",
        turn::free_emails_in_statement("batch")
    )
});

/// Writes `batch` in one statement, the creates whose turn is free: each appended event's
/// position, and the creates left out because their turn was not.
pub(super) async fn write(db: &impl ConnectionTrait, batch: &[Queued]) -> Result<Written, Failed> {
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
    let mut written = Written::default();
    for row in &rows {
        let read = || -> Result<_, sea_orm::DbErr> {
            let id: Uuid = row.try_get("", "id")?;
            let held: bool = row.try_get("", "held")?;
            let tx_id: Option<i64> = row.try_get("", "tx_id")?;
            let position: Option<i64> = row.try_get("", "position")?;
            Ok((id, held, tx_id.zip(position)))
        };
        let (id, held, appended) = read()
            .context("read what became of each create")
            .map_err(Failed::Final)?;
        match (held, appended) {
            (_, Some((tx_id, position))) => {
                written
                    .positions
                    .insert(id, LogPosition::new(tx_id, position));
            }
            (false, None) => {
                written.busy.insert(id);
            }
            (true, None) => {}
        }
    }
    Ok(written)
}

/// Writes `create` alone, once its address's turn is free: `BEGIN`, the wait, the statement
/// (which then finds the turn its own), `COMMIT`.
pub(super) async fn write_waiting(
    db: &DatabaseConnection,
    create: &Queued,
) -> Result<Written, Failed> {
    let txn = crate::db::begin_write(db)
        .await
        .context("begin write transaction")
        .map_err(Failed::Final)?;
    turn::email(&txn, &create.change.value.email)
        .await
        .map_err(Failed::Final)?;
    let written = write(&txn, std::slice::from_ref(create)).await?;
    txn.commit()
        .await
        .context("commit write transaction")
        .map_err(Failed::Final)?;
    Ok(written)
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

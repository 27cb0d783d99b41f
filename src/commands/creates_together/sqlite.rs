//! A batch of creates on SQLite: `BEGIN IMMEDIATE`, one `INSERT` of the rows, one of their
//! events, `COMMIT` (SQLite has no data-modifying CTEs to make them one statement).

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Alias, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use super::{Failed, Queued, Written};
use crate::commands::create_user::row_values;
use crate::domain::LogPosition;
use crate::entities::{user_events, users};
use crate::events;

/// Writes `batch` in one transaction: the rows whose address is free, then their events in the
/// batch's order.
pub(super) async fn write(db: &DatabaseConnection, batch: &[Queued]) -> Result<Written, Failed> {
    let txn = crate::db::begin_write(db)
        .await
        .context("begin write transaction")
        .map_err(Failed::Final)?;
    let written = write_in(&txn, batch).await.map_err(Failed::RolledBack)?;
    txn.commit()
        .await
        .context("commit write transaction")
        .map_err(Failed::Final)?;
    Ok(written)
}

/// The statements of [`write`].
async fn write_in(txn: &impl ConnectionTrait, batch: &[Queued]) -> anyhow::Result<Written> {
    let inserted = insert_rows(txn, batch).await.context("insert users")?;
    let written: Vec<&Queued> = batch
        .iter()
        .filter(|c| inserted.contains(&c.change.user_id.as_uuid()))
        .collect();
    if written.is_empty() {
        return Ok(Written::default());
    }
    let positions = append_events(txn, &written)
        .await
        .context("append UserCreated events")?;
    Ok(Written {
        positions,
        busy: HashSet::new(),
    })
}
/// Inserts the batch's rows; a row whose address a live user (or an earlier row) has is left
/// out, as the unique index on the address decides. The ids inserted.
async fn insert_rows(db: &impl ConnectionTrait, batch: &[Queued]) -> Result<HashSet<Uuid>, DbErr> {
    use users::Column as C;
    let mut insert = Query::insert()
        .into_table(Alias::new("users"))
        // In `row_values`' order.
        .columns([
            C::Id,
            C::Name,
            C::Email,
            C::Version,
            C::CreatedAt,
            C::UpdatedAt,
        ])
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .returning_col(C::Id)
        .to_owned();
    for create in batch {
        insert
            .values(row_values(&create.change.value).into_iter().map(Into::into))
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    db.query_all(&insert)
        .await?
        .iter()
        .map(|row| row.try_get("", "id"))
        .collect()
}

/// Appends the `UserCreated` events of `written`, in its order; each user's event position.
async fn append_events(
    db: &impl ConnectionTrait,
    written: &[&Queued],
) -> anyhow::Result<HashMap<Uuid, LogPosition>> {
    use user_events::Column as C;
    let mut insert = Query::insert()
        .into_table(Alias::new("user_events"))
        .columns(events::EVENT_COLUMNS)
        .returning(Query::returning().columns([C::UserId, C::TxId, C::Position]))
        .to_owned();
    for create in written {
        let row = create.event_values()?;
        insert.values(row.map(Into::into))?;
    }
    let rows = db.query_all(&insert).await?;
    rows.iter()
        .map(|row| {
            let user: Uuid = row.try_get("", "user_id")?;
            let tx_id: i64 = row.try_get("", "tx_id")?;
            let position: i64 = row.try_get("", "position")?;
            Ok((user, LogPosition::new(tx_id, position)))
        })
        .collect::<Result<_, DbErr>>()
        .map_err(Into::into)
}

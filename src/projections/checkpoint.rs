//! The `users_view` checkpoint row: how far the projection has applied the log, and why it is
//! failing, if it is. Written in each batch's transaction; read by the projector, the followers,
//! `/readyz` and `projections status`.

use std::sync::LazyLock;

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement,
    sea_query::OnConflict,
};

use crate::domain::LogPosition;
use crate::entities::{projection_checkpoints, users_view_stats};
use crate::projections::{USERS_VIEW, users_view};

/// What the read database records of the projection: its checkpoint (`START` before the first
/// batch) and its failure, if any. One row; `/readyz` shows it on every instance.
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

/// The checkpoint of `users_view`: the position of the last event applied, or `START`.
pub async fn load_checkpoint(read_db: &impl ConnectionTrait) -> Result<LogPosition, DbErr> {
    Ok(recorded(read_db).await?.0)
}

/// Stores the checkpoint (and clears any recorded failure): part of every batch's transaction.
pub(super) async fn save_checkpoint(
    db: &impl ConnectionTrait,
    position: LogPosition,
) -> Result<(), DbErr> {
    let row = projection_checkpoints::ActiveModel {
        projection: Set(USERS_VIEW.to_owned()),
        tx_id: Set(position.tx_id),
        position: Set(position.seq),
        updated_at: Set(Utc::now()),
        last_error: Set(None),
    };
    projection_checkpoints::Entity::insert(row)
        .on_conflict(
            OnConflict::column(projection_checkpoints::Column::Projection)
                .update_columns([
                    projection_checkpoints::Column::TxId,
                    projection_checkpoints::Column::Position,
                    projection_checkpoints::Column::UpdatedAt,
                    projection_checkpoints::Column::LastError,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The start of a statement that stores the checkpoint (PostgreSQL): a `SELECT` of projection,
/// `tx_id`, position, time and `NULL` (the failure cleared) follows, then [`CHECKPOINT_UPDATE`].
pub(super) const CHECKPOINT_INSERT: &str =
    "INSERT INTO projection_checkpoints (projection, tx_id, position, updated_at, last_error)";

/// The end of a statement that stores the checkpoint (PostgreSQL): the row replaces the stored one.
pub(super) const CHECKPOINT_UPDATE: &str = "ON CONFLICT (projection) DO UPDATE SET \
    tx_id = EXCLUDED.tx_id, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at, \
    last_error = NULL";

/// The view's counts and the checkpoint in one statement (PostgreSQL): the end of every batch.
/// The checkpoint is written only if the counts' row was.
static COUNTS_AND_CHECKPOINT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH counts AS (\
           UPDATE users_view_stats SET user_count = $1, created_count = $2 WHERE id = $3 \
           RETURNING id) \
         {CHECKPOINT_INSERT} SELECT $4, $5, $6, $7, NULL FROM counts {CHECKPOINT_UPDATE}"
    )
});

/// Stores the view's counts and the checkpoint (clearing any recorded failure): the end of a
/// batch's transaction. One round trip on PostgreSQL, where the projector's batch is a handful
/// of statements each waiting its turn on a busy server; two on SQLite (no writes in a `WITH`).
pub(super) async fn save_counts_and_checkpoint(
    db: &impl ConnectionTrait,
    counts: &users_view_stats::Model,
    position: LogPosition,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        users_view::save_stats(db, counts).await?;
        return save_checkpoint(db, position).await;
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        COUNTS_AND_CHECKPOINT.as_str(),
        [
            counts.user_count.into(),
            counts.created_count.into(),
            counts.id.into(),
            USERS_VIEW.into(),
            position.tx_id.into(),
            position.seq.into(),
            Utc::now().into(),
        ],
    );
    if db.execute_raw(statement).await?.rows_affected() != 1 {
        return Err(DbErr::RecordNotFound("users_view_stats row".into()));
    }
    Ok(())
}

/// Stores why the projector is failing, for `projections status` and `/readyz` on every instance.
pub(super) async fn record_failure(db: &impl ConnectionTrait, reason: &str) -> Result<(), DbErr> {
    let row = projection_checkpoints::ActiveModel {
        projection: Set(USERS_VIEW.to_owned()),
        tx_id: Set(0),
        position: Set(0),
        updated_at: Set(Utc::now()),
        last_error: Set(Some(format!("{}: {reason}", Utc::now().to_rfc3339()))),
    };
    projection_checkpoints::Entity::insert(row)
        .on_conflict(
            OnConflict::column(projection_checkpoints::Column::Projection)
                .update_columns([projection_checkpoints::Column::LastError])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

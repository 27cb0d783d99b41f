//! The `users_view` checkpoint row: how far the projection has applied the log, and why it is
//! failing, if it is. Written in each batch's transaction; read by the projector, the followers,
//! `/readyz` and `projections status`.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use crate::domain::LogPosition;
use crate::entities::projection_checkpoints;
use crate::projections::USERS_VIEW;

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

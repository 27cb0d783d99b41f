//! Read-through past the bound: a user the hot set misses, read from `users_view` together with
//! that table's checkpoint, so the model can tell whether the row may join the hot set.

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, JoinType, Query as Sql};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};

use crate::domain::{LogPosition, User, UserId};
use crate::entities::{projection_checkpoints, users_view, users_view_stats};
use crate::projections::USERS_VIEW;
use crate::projections::memory::MemoryModel;

impl MemoryModel {
    /// The user `id` as `users_view` holds it (`None`: no such user there), read with the
    /// checkpoint in one statement, so one snapshot; a row is then offered to the hot set, which
    /// caches it only if it is not older than the model. The answer is `users_view`'s as of that
    /// checkpoint: the caller waited for its consistency token before reading, so it is at or
    /// past the token.
    pub async fn read_through(
        &self,
        read_db: &DatabaseConnection,
        id: UserId,
    ) -> Result<Option<User>, DbErr> {
        let (user, checkpoint) = read_user(read_db, id).await?;
        if let Some(user) = &user {
            self.offer(user, checkpoint);
        }
        Ok(user)
    }
}

/// The row of `id` in `users_view`, if any, and the checkpoint it is exact at. The one counts
/// row anchors the statement, so the checkpoint comes back even when the user has no row.
async fn read_user(
    read_db: &DatabaseConnection,
    id: UserId,
) -> Result<(Option<User>, LogPosition), DbErr> {
    let (s, c, u) = (Alias::new("s"), Alias::new("c"), Alias::new("u"));
    let statement = Sql::select()
        .expr_as(
            Expr::col((c.clone(), projection_checkpoints::Column::TxId)),
            Alias::new("checkpoint_tx_id"),
        )
        .expr_as(
            Expr::col((c.clone(), projection_checkpoints::Column::Position)),
            Alias::new("checkpoint_position"),
        )
        .column((u.clone(), Asterisk))
        .from_as(users_view_stats::Entity, s.clone())
        .join_as(
            JoinType::LeftJoin,
            projection_checkpoints::Entity,
            c.clone(),
            Expr::col((c, projection_checkpoints::Column::Projection)).eq(USERS_VIEW),
        )
        .join_as(
            JoinType::LeftJoin,
            users_view::Entity,
            u.clone(),
            Expr::col((u, users_view::Column::Id)).eq(id.as_uuid()),
        )
        .and_where(Expr::col((s, users_view_stats::Column::Id)).eq(users_view_stats::ROW_ID))
        .to_owned();
    let row = read_db
        .query_one(&statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("users_view_stats has no row".to_owned()))?;
    let tx_id: Option<i64> = row.try_get("", "checkpoint_tx_id")?;
    let position: Option<i64> = row.try_get("", "checkpoint_position")?;
    let checkpoint = match (tx_id, position) {
        (Some(tx_id), Some(seq)) => LogPosition::new(tx_id, seq),
        _ => LogPosition::START,
    };
    let found: Option<uuid::Uuid> = row.try_get("", "id")?;
    let user = match found {
        Some(_) => Some(User::from(users_view::Model::from_query_result(&row, "")?)),
        None => None,
    };
    Ok((user, checkpoint))
}

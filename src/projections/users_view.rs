//! How each event changes `users_view` and its counts. Copies fields; decides nothing.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr,
};

use crate::entities::{users_view, users_view_stats};
use crate::events::{RecordedEvent, UserEvent};
use crate::projections::ProjectionError;

/// Applies one event inside the batch's transaction. Strict: an event that does not fit the
/// view (a duplicate create, a rename of a row not at the previous version) is an error, so a
/// double application could never go unnoticed.
pub(super) async fn apply(
    txn: &impl ConnectionTrait,
    stats: &mut users_view_stats::Model,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let id = event.user_id.as_uuid();
    let out_of_step = |detail: &str| ProjectionError::OutOfStep {
        position: event.position,
        detail: format!(
            "{} of user {id} at version {}: {detail}",
            event.event.kind(),
            event.version
        ),
    };
    match &event.event {
        UserEvent::UserCreated { name, email } => {
            stats.created_count += 1;
            stats.user_count += 1;
            let row = users_view::ActiveModel {
                id: Set(id),
                name: Set(name.clone()),
                email: Set(email.clone()),
                version: Set(event.version),
                created_at: Set(event.occurred_at),
                updated_at: Set(event.occurred_at),
                ordinal: Set(stats.created_count),
            };
            users_view::Entity::insert(row)
                .exec_without_returning(txn)
                .await?;
        }
        UserEvent::UserRenamed { new_name, .. } => {
            let changed = users_view::Entity::update_many()
                .col_expr(users_view::Column::Name, Expr::value(new_name.clone()))
                .col_expr(users_view::Column::Version, Expr::value(event.version))
                .col_expr(
                    users_view::Column::UpdatedAt,
                    Expr::value(event.occurred_at),
                )
                .filter(users_view::Column::Id.eq(id))
                .filter(users_view::Column::Version.eq(event.version - 1))
                .exec(txn)
                .await?;
            if changed.rows_affected != 1 {
                return Err(out_of_step("no row at the previous version"));
            }
        }
        UserEvent::UserDeleted => {
            let deleted = users_view::Entity::delete_many()
                .filter(users_view::Column::Id.eq(id))
                .filter(users_view::Column::Version.eq(event.version - 1))
                .exec(txn)
                .await?;
            if deleted.rows_affected != 1 {
                return Err(out_of_step("no row at the previous version"));
            }
            stats.user_count -= 1;
        }
    }
    Ok(())
}

//! How each event changes `users_view` (or the rebuild's copy) and its counts. Copies fields; decides nothing.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{Set, Unchanged},
    ConnectionTrait, DbErr,
};

use crate::entities::{users_view, users_view_stats};
use crate::events::{RecordedEvent, UserEvent};
use crate::projections::ProjectionError;

/// The table events are applied to: the live view, or the rebuild's copy of it.
pub(super) type Table = &'static str;
pub(super) const LIVE: Table = "users_view";
pub(super) const REBUILD: Table = "users_view_rebuild";

/// Applies one event inside the caller's transaction. Strict: an event that does not fit the
/// view (a duplicate create, a rename of a row not at the previous version) is an error, so a
/// double application could never go unnoticed.
pub(super) async fn apply(
    txn: &impl ConnectionTrait,
    table: Table,
    stats: &mut users_view_stats::Model,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use users_view::Column as C;
    let id = event.user_id.as_uuid();
    let out_of_step = || ProjectionError::OutOfStep {
        position: event.position,
        detail: format!(
            "{} of user {id} at version {}: no row at the previous version",
            event.event.kind(),
            event.version
        ),
    };
    let this_user_at_previous_version = || {
        Expr::col(C::Id)
            .eq(id)
            .and(Expr::col(C::Version).eq(event.version - 1))
    };
    match &event.event {
        UserEvent::UserCreated { name, email } => {
            stats.created_count += 1;
            stats.user_count += 1;
            let insert = Query::insert()
                .into_table(Alias::new(table))
                .columns([
                    C::Id,
                    C::Name,
                    C::Email,
                    C::Version,
                    C::CreatedAt,
                    C::UpdatedAt,
                    C::Ordinal,
                ])
                .values([
                    id.into(),
                    name.clone().into(),
                    email.clone().into(),
                    event.version.into(),
                    event.occurred_at.into(),
                    event.occurred_at.into(),
                    stats.created_count.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .to_owned();
            txn.execute(&insert).await?;
        }
        UserEvent::UserRenamed { new_name, .. } => {
            let update = Query::update()
                .table(Alias::new(table))
                .value(C::Name, new_name.clone())
                .value(C::Version, event.version)
                .value(C::UpdatedAt, event.occurred_at)
                .and_where(this_user_at_previous_version())
                .to_owned();
            if txn.execute(&update).await?.rows_affected() != 1 {
                return Err(out_of_step());
            }
        }
        UserEvent::UserDeleted => {
            let delete = Query::delete()
                .from_table(Alias::new(table))
                .and_where(this_user_at_previous_version())
                .to_owned();
            if txn.execute(&delete).await?.rows_affected() != 1 {
                return Err(out_of_step());
            }
            stats.user_count -= 1;
        }
    }
    Ok(())
}

/// Stores the maintained counts of the live view.
pub(super) async fn save_stats(
    db: &impl ConnectionTrait,
    stats: &users_view_stats::Model,
) -> Result<(), DbErr> {
    users_view_stats::ActiveModel {
        id: Unchanged(stats.id),
        user_count: Set(stats.user_count),
        created_count: Set(stats.created_count),
    }
    .update(db)
    .await?;
    Ok(())
}

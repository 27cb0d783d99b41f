//! How a batch of events changes `users_view` (or the rebuild's copy) and its counts. Copies fields; decides nothing.

use std::collections::HashSet;

use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{Set, Unchanged},
    ConnectionTrait, DbErr,
};

use crate::entities::{users_view, users_view_stats};
use crate::events::{RecordedEvent, UserEvent};
use crate::projections::ProjectionError;

use users_view::Column as C;

/// The table events are applied to: the live view, or the rebuild's copy of it.
pub(super) type Table = &'static str;
pub(super) const LIVE: Table = "users_view";
pub(super) const REBUILD: Table = "users_view_rebuild";

/// Most rows one `INSERT` writes: 7 parameters each stay far under PostgreSQL's 65 535 and
/// SQLite's 32 766 per statement, whatever `--projector-batch-size` is.
pub(super) const MOST_ROWS_PER_INSERT: usize = 1000;

/// Applies `events`, in log order, inside the caller's transaction: each run of consecutive
/// creates as one multi-row `INSERT`, each rename and delete as one statement. Strict: an event
/// that does not fit the view (a duplicate create, a rename or delete of a row not at the previous
/// version) is `OutOfStep`, naming its position, so a double application could never go
/// unnoticed. On an error `stats` may hold part of the batch; the caller rolls both back.
pub(super) async fn apply(
    txn: &impl ConnectionTrait,
    table: Table,
    stats: &mut users_view_stats::Model,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut rest = events;
    while let Some(first) = rest.first() {
        let creates = rest
            .iter()
            .take(MOST_ROWS_PER_INSERT)
            .take_while(|e| matches!(e.event, UserEvent::UserCreated { .. }))
            .count();
        let applied = if creates > 0 {
            insert_created(txn, table, stats, &rest[..creates]).await?;
            creates
        } else {
            apply_change(txn, table, stats, first).await?;
            1
        };
        rest = &rest[applied..];
    }
    Ok(())
}

/// Inserts the users of a run of `UserCreated` events, the n-th created getting ordinal n. A user
/// already in the view (or twice in the run) is not inserted (`DO NOTHING`): the first such event
/// is `OutOfStep`.
async fn insert_created(
    txn: &impl ConnectionTrait,
    table: Table,
    stats: &mut users_view_stats::Model,
    run: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut insert = Query::insert()
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
        .on_conflict(OnConflict::column(C::Id).do_nothing().to_owned())
        .returning_col(C::Id)
        .to_owned();
    let mut ordinal = stats.created_count;
    for event in run {
        let UserEvent::UserCreated { name, email } = &event.event else {
            unreachable!("a run of creates holds only creates");
        };
        ordinal += 1;
        insert
            .values([
                event.user_id.as_uuid().into(),
                name.clone().into(),
                email.clone().into(),
                event.version.into(),
                event.occurred_at.into(),
                event.occurred_at.into(),
                ordinal.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    let inserted = txn.query_all(&insert).await?;
    if inserted.len() != run.len() {
        let mut inserted: HashSet<Uuid> = inserted
            .iter()
            .map(|row| row.try_get("", "id"))
            .collect::<Result<_, _>>()?;
        let first_not = run.iter().find(|e| !inserted.remove(&e.user_id.as_uuid()));
        let event = first_not.expect("a run with fewer rows inserted than events");
        return Err(ProjectionError::OutOfStep {
            position: event.position,
            detail: format!(
                "UserCreated of user {} at version {}: the user is already in the view",
                event.user_id, event.version
            ),
        });
    }
    let created = run.len() as i64;
    stats.created_count += created;
    stats.user_count += created;
    Ok(())
}

/// Applies a rename or a delete: it must find the user's row at the previous version.
async fn apply_change(
    txn: &impl ConnectionTrait,
    table: Table,
    stats: &mut users_view_stats::Model,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let id = event.user_id.as_uuid();
    let this_user_at_previous_version = Expr::col(C::Id)
        .eq(id)
        .and(Expr::col(C::Version).eq(event.version - 1));
    let changed = match &event.event {
        UserEvent::UserCreated { .. } => unreachable!("creates are inserted in runs"),
        UserEvent::UserRenamed { new_name, .. } => {
            let update = Query::update()
                .table(Alias::new(table))
                .value(C::Name, new_name.clone())
                .value(C::Version, event.version)
                .value(C::UpdatedAt, event.occurred_at)
                .and_where(this_user_at_previous_version)
                .to_owned();
            txn.execute(&update).await?.rows_affected()
        }
        UserEvent::UserDeleted => {
            let delete = Query::delete()
                .from_table(Alias::new(table))
                .and_where(this_user_at_previous_version)
                .to_owned();
            let deleted = txn.execute(&delete).await?.rows_affected();
            if deleted == 1 {
                stats.user_count -= 1;
            }
            deleted
        }
    };
    if changed != 1 {
        return Err(ProjectionError::OutOfStep {
            position: event.position,
            detail: format!(
                "{} of user {id} at version {}: no row at the previous version",
                event.event.kind(),
                event.version
            ),
        });
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

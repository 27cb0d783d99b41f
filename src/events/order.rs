//! The log's order in SQL: the events after a position, oldest or newest first, and only those
//! no running transaction can still precede (see the parent module's doc).

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::domain::LogPosition;
use crate::entities::user_events;

/// The events after `position` in the log's order.
///
/// On SQLite every event's `tx_id` is 0, so the log's order is `position`'s, the rowid's, which
/// SQLite searches by range. It reads `(tx_id, position) > (0, n)` by walking the
/// `(tx_id, position)` index from its first entry: every read of the log scanned the whole log
/// (42 ms a read at 300 000 events, against 0.5 ms). A bound with another `tx_id` (a token from
/// elsewhere) keeps the exact comparison.
pub(super) fn after_position(
    backend: DbBackend,
    position: LogPosition,
) -> Select<user_events::Entity> {
    let events = user_events::Entity::find();
    if backend == DbBackend::Sqlite && position.tx_id == 0 {
        return events.filter(user_events::Column::Position.gt(position.seq));
    }
    let in_order = Expr::tuple([
        Expr::col(user_events::Column::TxId),
        Expr::col(user_events::Column::Position),
    ]);
    let bound = Expr::tuple([Expr::value(position.tx_id), Expr::value(position.seq)]);
    events.filter(in_order.gt(bound))
}

/// Oldest first.
pub(super) fn in_log_order(
    backend: DbBackend,
    events: Select<user_events::Entity>,
) -> Select<user_events::Entity> {
    in_order(backend, events, Order::Asc)
}

pub(super) fn newest_first(
    backend: DbBackend,
    events: Select<user_events::Entity>,
) -> Select<user_events::Entity> {
    in_order(backend, events, Order::Desc)
}

/// The log's order in `direction`. On SQLite by `position` alone (the same order, see
/// `after_position`), so a range of the rowid needs no sort and no walk of the other index.
fn in_order(
    backend: DbBackend,
    events: Select<user_events::Entity>,
    direction: Order,
) -> Select<user_events::Entity> {
    let events = if backend == DbBackend::Sqlite {
        events
    } else {
        events.order_by(user_events::Column::TxId, direction.clone())
    };
    events.order_by(user_events::Column::Position, direction)
}

/// Only events no running transaction can still precede (on SQLite, all of them).
pub(super) fn settled(
    db: &impl ConnectionTrait,
    events: Select<user_events::Entity>,
) -> Select<user_events::Entity> {
    match oldest_running_tx(db.get_database_backend()) {
        Some(oldest_running) => {
            events.filter(Expr::col(user_events::Column::TxId).lt(oldest_running))
        }
        None => events,
    }
}

/// The id of the oldest transaction still running that could append to this log, as `tx_id`
/// values compare (PostgreSQL): every transaction of this database with a smaller id has ended.
/// SQLite serialises writers, so it needs none.
pub(super) fn oldest_running_tx(backend: DbBackend) -> Option<Expr> {
    (backend == DbBackend::Postgres).then(|| Expr::cust(OLDEST_RUNNING_HERE))
}

/// The smallest id among the transactions running in this statement's snapshot, leaving out those
/// `pg_stat_activity` shows running in another database; the snapshot's `xmax` (the first id not
/// yet assigned) when none is left. Transaction ids are cluster-wide, and `pg_snapshot_xmin` alone
/// made any long transaction of any database hold every follower back: the projector's batch in
/// a read database of the same cluster, another tenant's job, a parallel test. A transaction of
/// another database can never append here, and an id names one transaction for good, so leaving
/// it out is safe whenever it is seen; a running id not seen there (ended since, or hidden from a
/// role without `pg_read_all_stats`) still holds followers back. `backend_xid` is the 32-bit id:
/// it is compared with the low 32 bits of the 64-bit one.
const OLDEST_RUNNING_HERE: &str = "COALESCE((    SELECT min(running::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS running     WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity AS elsewhere         WHERE elsewhere.datname IS DISTINCT FROM current_database()         AND elsewhere.backend_xid::text::bigint = running::text::bigint % 4294967296)    ), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)";

/// The log position of the first event `events` selects, reading only the position.
pub(super) async fn position_of_first(
    db: &impl ConnectionTrait,
    events: Select<user_events::Entity>,
) -> Result<Option<LogPosition>, DbErr> {
    let first = events
        .select_only()
        .column(user_events::Column::TxId)
        .column(user_events::Column::Position)
        .into_tuple::<(i64, i64)>()
        .one(db)
        .await?;
    Ok(first.map(|(tx_id, seq)| LogPosition::new(tx_id, seq)))
}

#[cfg(test)]
mod tests {
    use migration::{MigratorTrait as _, WriteMigrator};
    use sea_orm::{Database, QueryTrait as _, Statement};

    use super::*;

    /// SQLite's plan for a statement: its `detail` lines, joined.
    async fn plan(db: &sea_orm::DatabaseConnection, events: Select<user_events::Entity>) -> String {
        let statement = events.build(DbBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", statement.sql),
            statement.values.map(|v| v.0).unwrap_or_default(),
        );
        let rows = db.query_all_raw(explain).await.unwrap();
        let details: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        details.join("; ")
    }

    /// Reading the log after a position searches a range of `position` on SQLite; a scan would
    /// read the whole log on every read of every follower.
    #[tokio::test]
    async fn sqlite_reads_the_log_after_a_position_without_scanning_it() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        WriteMigrator::up(&db, None).await.unwrap();
        let after = LogPosition::new(0, 1000);
        let read = in_log_order(DbBackend::Sqlite, after_position(DbBackend::Sqlite, after));
        let counted = after_position(DbBackend::Sqlite, after);
        for (what, events) in [("read", read.limit(500)), ("count", counted)] {
            let plan = plan(&db, events).await;
            assert!(
                plan.contains("USING INTEGER PRIMARY KEY (rowid>?)")
                    && !plan.contains("TEMP B-TREE"),
                "{what}: {plan}"
            );
        }
    }
}

//! The event log `user_events`: one row per change, in a global order.
//!
//! The global order is `(tx_id, position)`. On PostgreSQL `tx_id` is the id of the transaction that
//! appended the event (`pg_current_xact_id()`), so a reader can tell which transactions may still
//! commit and never reads past them; on SQLite writers are serialised and `tx_id` is always 0.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tx_id_default = match manager.get_database_backend() {
            DbBackend::Postgres => Expr::cust("(pg_current_xact_id()::text::bigint)"),
            _ => Expr::val(0),
        };
        manager
            .create_table(
                Table::create()
                    .table(UserEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(UserEvents::Position))
                    .col(big_integer(UserEvents::TxId).default(tx_id_default))
                    .col(uuid(UserEvents::UserId))
                    .col(integer(UserEvents::Version))
                    .col(string_len(UserEvents::EventType, 64))
                    .col(json(UserEvents::Payload))
                    .col(timestamp_with_time_zone(UserEvents::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_events_user_id_version_key")
                    .table(UserEvents::Table)
                    .col(UserEvents::UserId)
                    .col(UserEvents::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The projector and subscribers read the log in this order.
        manager
            .create_index(
                Index::create()
                    .name("user_events_log_order_idx")
                    .table(UserEvents::Table)
                    .col(UserEvents::TxId)
                    .col(UserEvents::Position)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum UserEvents {
    Table,
    Position,
    TxId,
    UserId,
    Version,
    EventType,
    Payload,
    OccurredAt,
}

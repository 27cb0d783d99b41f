//! Who caused each event and under which request: `actor` and `correlation_id` on `user_events`.
//!
//! Both are nullable: events appended before this migration recorded neither, and keep working.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [UserEvents::Actor, UserEvents::CorrelationId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UserEvents::Table)
                        .add_column_if_not_exists(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [UserEvents::Actor, UserEvents::CorrelationId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UserEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum UserEvents {
    Table,
    Actor,
    CorrelationId,
}

//! PostgreSQL only: `user_events` announces appends on channel `cqrs_user_events`, delivered at commit,
//! so every instance's subscribers and projector wake without polling.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION cqrs_notify_user_events() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_notify('cqrs_user_events', ''); RETURN NULL; END; \
             $$ LANGUAGE plpgsql",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER user_events_notify AFTER INSERT ON user_events \
             FOR EACH STATEMENT EXECUTE FUNCTION cqrs_notify_user_events()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS user_events_notify ON user_events")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS cqrs_notify_user_events()")
            .await?;
        Ok(())
    }
}

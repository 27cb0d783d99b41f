//! Running several instances: `projection_leases` (which instance projects), the projector's last
//! error beside its checkpoint, and on PostgreSQL a notification on channel `cqrs_projection`
//! (payload: the new checkpoint) whenever a checkpoint moves.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProjectionLeases::Table)
                    .if_not_exists()
                    .col(string_len(ProjectionLeases::Projection, 64).primary_key())
                    .col(string_len(ProjectionLeases::Holder, 128))
                    // Milliseconds since the Unix epoch, in the database's clock.
                    .col(big_integer(ProjectionLeases::ExpiresAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectionCheckpoints::Table)
                    .add_column(text_null(ProjectionCheckpoints::LastError))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "CREATE OR REPLACE FUNCTION cqrs_notify_projection() RETURNS trigger AS $$ \
                 BEGIN PERFORM pg_notify('cqrs_projection', NEW.projection || ':' || \
                   lpad(to_hex(NEW.tx_id), 16, '0') || lpad(to_hex(NEW.position), 16, '0')); \
                 RETURN NULL; END; $$ LANGUAGE plpgsql",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER projection_checkpoints_notify \
                 AFTER INSERT OR UPDATE OF tx_id, position ON projection_checkpoints \
                 FOR EACH ROW EXECUTE FUNCTION cqrs_notify_projection()",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS projection_checkpoints_notify ON projection_checkpoints",
            )
            .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS cqrs_notify_projection()")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectionCheckpoints::Table)
                    .drop_column(ProjectionCheckpoints::LastError)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ProjectionLeases::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ProjectionLeases {
    Table,
    Projection,
    Holder,
    ExpiresAtMs,
}

#[derive(DeriveIden)]
enum ProjectionCheckpoints {
    Table,
    LastError,
}

//! Schema migrations for the two databases: the write model (`WriteMigrator`) and the read model (`ReadMigrator`).
//!
//! The two sets are kept apart so the read model can live in its own database. Each migrator records
//! what it applied in its own bookkeeping table, so both can also share one database.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_users;
mod m20261126_000002_create_user_events;
mod m20261126_000101_create_users_view;
mod m20261126_000102_projection_leases;
mod m20261127_000003_event_provenance;

/// Migrations of the write database: `users` and the event log `user_events` (with who caused
/// each event).
pub struct WriteMigrator;

#[async_trait::async_trait]
impl MigratorTrait for WriteMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_users::Migration),
            Box::new(m20261126_000002_create_user_events::Migration),
            Box::new(m20261127_000003_event_provenance::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_write".into_iden()
    }
}

/// Migrations of the read database: `users_view`, its totals, the projection checkpoints and leases.
pub struct ReadMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ReadMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000101_create_users_view::Migration),
            Box::new(m20261126_000102_projection_leases::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_read".into_iden()
    }
}

//! Schema migrations: applied at start-up (one instance at a time on PostgreSQL) or by
//! `cqrs-users migrate`, checked with `--no-migrate` and by the operator commands, and listed by
//! `migrate status`.

use std::fmt;

use migration::{MigratorTrait, ReadMigrator, WriteMigrator};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};

use crate::db::redact;

/// The names of a list of sea-orm-migration's `Migration`s, a type the `migration` crate does
/// not re-export.
macro_rules! pending_names {
    ($migrations:expr) => {
        $migrations
            .iter()
            .map(|m| m.name().to_owned())
            .collect::<Vec<String>>()
    };
}

/// One database's migrations, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrations {
    /// `write` or `read`.
    pub database: &'static str,
    /// Redacted.
    pub url: String,
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

impl fmt::Display for Migrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16}{}",
            format!("{} database", self.database),
            self.url
        )?;
        for name in &self.applied {
            writeln!(f, "  applied  {name}")?;
        }
        for name in &self.pending {
            writeln!(f, "  pending  {name}")?;
        }
        Ok(())
    }
}

/// What `cqrs-users migrate` applied to one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// `write` or `read`.
    pub database: &'static str,
    /// Redacted.
    pub url: String,
    pub applied: Vec<String>,
}

impl Migrated {
    pub(super) fn new(database: &'static str, url: &str, applied: Vec<String>) -> Self {
        Self {
            database,
            url: redact(url),
            applied,
        }
    }
}

impl fmt::Display for Migrated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = format!("{} database", self.database);
        match self.applied.as_slice() {
            [] => writeln!(f, "{:<16}{}: up to date", title, self.url),
            applied => writeln!(
                f,
                "{:<16}{}: applied {}",
                title,
                self.url,
                applied.join(", ")
            ),
        }
    }
}

/// Applies `M`'s pending migrations; the names of those it applied. On PostgreSQL under an
/// advisory lock held by the migrating transaction, so instances starting together do not race;
/// nothing is run when nothing is pending.
pub(super) async fn apply<M: MigratorTrait>(
    db: &DatabaseConnection,
) -> anyhow::Result<Vec<String>> {
    if db.get_database_backend() != DbBackend::Postgres {
        let pending = pending_names!(M::get_pending_migrations(db).await?);
        if !pending.is_empty() {
            M::up(db, None).await?;
        }
        return Ok(pending);
    }
    let txn = db.begin().await?;
    // Instances starting together queue here while one migrates: longer than a request would.
    txn.execute_unprepared("SET LOCAL lock_timeout = '60s'; SET LOCAL statement_timeout = 0")
        .await?;
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(7261537420551123)")
        .await?;
    let pending = pending_names!(M::get_pending_migrations(&txn).await?);
    if !pending.is_empty() {
        M::up(&txn, None).await?;
    }
    txn.commit().await?;
    Ok(pending)
}

/// Fails, naming `cqrs-users migrate` and then `and_then`, while either database has a pending
/// migration. Creates nothing (not even the migrations' bookkeeping tables).
pub(super) async fn ensure_applied(
    write: &DatabaseConnection,
    read: &DatabaseConnection,
    and_then: &str,
) -> anyhow::Result<()> {
    let pending = [
        (
            "write",
            pending_names!(WriteMigrator::get_pending_migrations_read_only(write).await?),
        ),
        (
            "read",
            pending_names!(ReadMigrator::get_pending_migrations_read_only(read).await?),
        ),
    ];
    for (database, pending) in pending {
        anyhow::ensure!(
            pending.is_empty(),
            "the {database} database has {} pending migrations ({}): apply them with \
             `cqrs-users migrate` (same database flags){and_then}",
            pending.len(),
            pending.join(", ")
        );
    }
    Ok(())
}

/// `M`'s migrations on `db`, applied and pending, without creating anything.
pub(super) async fn status<M: MigratorTrait>(
    db: &DatabaseConnection,
    database: &'static str,
    url: &str,
) -> anyhow::Result<Migrations> {
    let pending = pending_names!(M::get_pending_migrations_read_only(db).await?);
    let applied = M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|name| !pending.contains(name))
        .collect();
    Ok(Migrations {
        database,
        url: redact(url),
        applied,
        pending,
    })
}

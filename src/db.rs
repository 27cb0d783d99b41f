//! Database connections: the write and read pools, SQLite settings, and applying migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use migration::{MigratorTrait, ReadMigrator, WriteMigrator};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::ServeConfig;

/// How long a request waits for a pooled connection before it fails (fast, with a clear error).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits for another connection's lock before `database is locked`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections that only read the event log (projector, subscriptions), apart from `write`.
const LOG_READERS: u32 = 4;

/// The pools. With no separate read database `read` is the `write` pool.
#[derive(Clone)]
pub struct Databases {
    /// Commands' transactions. On SQLite one connection: the database has one writer.
    pub write: DatabaseConnection,
    /// Reads of the event log, on the write database: the projector, the live tail and
    /// subscribers replaying history never wait behind commands for a connection, nor hold
    /// SQLite's single writer connection.
    pub log: DatabaseConnection,
    pub read: DatabaseConnection,
}

/// Connects both pools and applies each database's migrations.
pub async fn connect_and_migrate(config: &ServeConfig) -> anyhow::Result<Databases> {
    let databases = connect_both(config).await?;
    migrate::<WriteMigrator>(&databases.write)
        .await
        .context("migrate the write database")?;
    migrate::<ReadMigrator>(&databases.read)
        .await
        .context("migrate the read database")?;
    Ok(databases)
}

/// Connects both pools to databases a server has already migrated (for operator commands,
/// which should not change a schema as a side effect).
pub async fn connect_migrated(config: &ServeConfig) -> anyhow::Result<Databases> {
    let databases = connect_both(config).await?;
    let pending = WriteMigrator::get_pending_migrations(&databases.write)
        .await?
        .len()
        + ReadMigrator::get_pending_migrations(&databases.read)
            .await?
            .len();
    anyhow::ensure!(
        pending == 0,
        "the databases have {pending} migrations to apply; start a server on them first (it applies them)"
    );
    Ok(databases)
}

async fn connect_both(config: &ServeConfig) -> anyhow::Result<Databases> {
    let write_url = config.write_database_url();
    let read_url = config.read_database_url();
    let write = connect(write_url, config.max_connections, true).await?;
    let log = connect(write_url, LOG_READERS, false).await?;
    let read = if read_url == write_url {
        write.clone()
    } else {
        connect(read_url, config.read_max_connections, false).await?
    };
    Ok(Databases { write, log, read })
}

async fn connect(
    url: &str,
    max_connections: u32,
    writer: bool,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        let path = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("parse SQLite URL {url}"))?
            .get_filename()
            .to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create directory {}", dir.display()))?;
        }
        if writer {
            // SQLite has one writer at a time; a single connection queues writers in the pool
            // instead of making them race for the file lock.
            options.max_connections(1);
        }
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // With WAL, NORMAL survives a process crash; only an OS crash may lose the last commits.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    }
    Database::connect(options)
        .await
        .with_context(|| format!("connect to {}", redact(url)))
}

/// Applies pending migrations. On PostgreSQL under an advisory lock held by the migrating
/// transaction, so instances starting together do not race.
async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(M::up(db, None).await?);
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(7261537420551123)")
        .await?;
    M::up(&txn, None).await?;
    txn.commit().await?;
    Ok(())
}

/// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
/// so two writers queue for it instead of one failing with `database is locked` on upgrade.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Whether `err` says the database could not be reached (down, restarting, pool exhausted), as
/// opposed to a statement it refused: the client should retry later, not fix its request.
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    err.chain()
        .any(|cause| match cause.downcast_ref::<DbErr>() {
            Some(DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) => true,
            Some(
                DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)),
            ) => {
                matches!(
                    e.as_ref(),
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Tls(_)
                )
            }
            _ => false,
        })
}

/// The same server URL naming another database (`postgres://u@h:5432/a?x` → `.../name?x`).
pub fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut result = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn renames_the_database_only() {
        use super::with_database_name;
        assert_eq!(
            with_database_name("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database_name("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database_name("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/users"),
            "postgres://app:***@db:5432/users"
        );
        assert_eq!(redact("postgres://app@db/users"), "postgres://app@db/users");
        assert_eq!(redact("sqlite://data/write.db"), "sqlite://data/write.db");
    }
}

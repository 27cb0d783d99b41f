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

use crate::config::{ServeConfig, SessionLimits};

/// How long a request waits for a pooled connection before it fails (fast, with a clear error).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits for another connection's lock before `database is locked`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP keepalives the server sends on each session (seconds idle, seconds between probes, probes):
/// a session whose instance's host died or was cut off is closed within about 25 s, rolling
/// back its transaction. (A frozen process's kernel still answers them; the idle-in-transaction
/// limit covers that case.)
const TCP_KEEPALIVES: [(&str, &str); 3] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
];

/// Connections that only read the event log (the projector, the live tail, the in-memory read
/// model catching up), apart from `write`.
const LOG_READERS: u32 = 4;
/// Connections the projector writes the read model through (its batches, its lease), apart
/// from `read`; on SQLite one, the read database's one writer.
const PROJECTOR_WRITERS: u32 = 2;

/// The pools. With no separate read database `read` is the `write` pool.
#[derive(Clone)]
pub struct Databases {
    /// Commands' transactions. On SQLite one connection: the database has one writer.
    pub write: DatabaseConnection,
    /// Reads of the event log, on the write database, by the projector and the live tail alone:
    /// they never wait behind commands or subscribers for a connection, nor hold SQLite's single
    /// writer connection.
    pub log: DatabaseConnection,
    /// Reads of the event log for subscribers replaying history, on the write database: their
    /// own few connections (`WsLimits`), so no number of subscribers can take the log pool's
    /// from the projector and the tail. A replay waits for one at most
    /// `--subscription-replay-wait-ms`, then fails as unavailable.
    pub replay: DatabaseConnection,
    /// Queries' reads of the read model (and the operator commands' work on it).
    pub read: DatabaseConnection,
    /// The projector's batches and lease on the read database, apart from `read`: no number of
    /// queries can keep it waiting for a connection. With one SQLite file for both models it
    /// is the `write` pool, since that file has one writer.
    pub projector: DatabaseConnection,
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
    let limits = &config.session_limits;
    let ws = &config.ws_limits;
    let write = connect(write_url, Pool::Write, config.max_connections, limits).await?;
    let log = connect(write_url, Pool::Log, LOG_READERS, limits).await?;
    let replays = ws.subscription_replay_connections;
    let replay = connect(write_url, Pool::Replay(ws.replay_wait()), replays, limits).await?;
    let read = if read_url == write_url {
        write.clone()
    } else {
        connect(read_url, Pool::Read, config.read_max_connections, limits).await?
    };
    let projector = if read_url == write_url && read_url.starts_with("sqlite:") {
        write.clone()
    } else {
        connect(read_url, Pool::Projector, PROJECTOR_WRITERS, limits).await?
    };
    Ok(Databases {
        write,
        log,
        replay,
        read,
        projector,
    })
}

/// Which of the pools (see `Databases`) a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Write,
    Log,
    /// With how long a replay waits for a connection.
    Replay(Duration),
    Read,
    Projector,
}

impl Pool {
    /// Its name in `application_name`.
    fn name(self) -> &'static str {
        match self {
            Pool::Write => "write",
            Pool::Log => "log",
            Pool::Replay(_) => "replay",
            Pool::Read => "read",
            Pool::Projector => "projector",
        }
    }

    /// How long a caller waits for one of its connections before it fails (fast, clearly).
    fn acquire_timeout(self) -> Duration {
        match self {
            Pool::Replay(wait) => wait,
            _ => ACQUIRE_TIMEOUT,
        }
    }
}

/// A pool, named (with the process id) in `application_name` for `pg_stat_activity`.
async fn connect(
    url: &str,
    pool: Pool,
    max_connections: u32,
    limits: &SessionLimits,
) -> anyhow::Result<DatabaseConnection> {
    let writer = pool == Pool::Write;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(pool.acquire_timeout())
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
        if writer || pool == Pool::Projector {
            // SQLite has one writer at a time; a single connection queues writers in the pool
            // instead of making them race for the file lock.
            options.max_connections(1);
        }
        // The log is the truth: FULL syncs the WAL at every commit, so an acknowledged write
        // survives an OS crash or power loss. The read model can be rebuilt from the log, so NORMAL
        // (which survives a process crash; an OS crash may take its last commits, and the
        // projector simply applies them again) is enough there.
        let synchronous = if writer {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        };
        options.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    }
    if url.starts_with("postgres") {
        let application_name = format!("cqrs-users {} pid {}", pool.name(), std::process::id());
        let settings = session_settings(limits);
        options.map_sqlx_postgres_opts(move |o| {
            o.application_name(&application_name)
                .options(settings.clone())
        });
    }
    Database::connect(options)
        .await
        .with_context(|| format!("connect to {}", redact(url)))
}

/// The settings every PostgreSQL session starts with (see `SessionLimits`).
fn session_settings(limits: &SessionLimits) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        (
            "idle_in_transaction_session_timeout",
            limits.db_idle_in_transaction_timeout_ms.to_string(),
        ),
        ("lock_timeout", limits.db_lock_timeout_ms.to_string()),
        (
            "statement_timeout",
            limits.db_statement_timeout_ms.to_string(),
        ),
    ];
    settings.extend(TCP_KEEPALIVES.map(|(k, v)| (k, v.to_owned())));
    settings
}

/// Applies pending migrations. On PostgreSQL under an advisory lock held by the migrating
/// transaction, so instances starting together do not race.
async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(M::up(db, None).await?);
    }
    let txn = db.begin().await?;
    // Instances starting together queue here while one migrates: longer than a request would.
    txn.execute_unprepared("SET LOCAL lock_timeout = '60s'; SET LOCAL statement_timeout = 0")
        .await?;
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

/// SQLSTATEs of a statement the database gave up on, not refused: a lock wait or statement over
/// its limit, a session ended by the server (its idle-in-transaction limit, an operator, a
/// restart). Retrying later may work.
const GAVE_UP: [&str; 6] = ["55P03", "57014", "25P03", "57P01", "57P02", "57P03"];

/// Whether `err` says the database could not be reached (down, restarting, pool exhausted) or
/// gave up waiting (see `GAVE_UP`), as opposed to a statement it refused: the client should retry
/// later, not fix its request.
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    err.chain()
        .any(|cause| match cause.downcast_ref::<DbErr>() {
            Some(DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) => true,
            Some(
                DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)),
            ) => match e.as_ref() {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Tls(_) => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|c| GAVE_UP.contains(&&*c)),
                _ => false,
            },
            _ => false,
        })
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only a URL that cannot have a password refuses one, and this one has a password.
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

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

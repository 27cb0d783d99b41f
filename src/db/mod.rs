//! Database connections: the pools (`connect.rs` opens them, `liveness.rs` says which idle
//! connections to test before use), and migrations (`migrate.rs`).

mod connect;
mod liveness;
mod migrate;

use std::time::Duration;

use migration::{ReadMigrator, WriteMigrator};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::config::ServeConfig;

pub use connect::ConnectError;
pub use migrate::{Migrated, Migrations};

use connect::{ACQUIRE_TIMEOUT, open, probe};

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

/// Connects the pools and applies each database's pending migrations; with `--no-migrate`
/// only checks that none is pending.
pub async fn connect_and_migrate(config: &ServeConfig) -> anyhow::Result<Databases> {
    let databases = connect_all(config).await?;
    if config.no_migrate {
        migrate::ensure_applied(
            &databases.write,
            &databases.read,
            ", or start without --no-migrate",
        )
        .await?;
        return Ok(databases);
    }
    // Both databases at once: each migration check is a few round trips under its own lock.
    let (write, read) = tokio::join!(
        migrate::apply::<WriteMigrator>(&databases.write),
        migrate::apply::<ReadMigrator>(&databases.read),
    );
    for (database, applied) in [("write", write), ("read", read)] {
        let applied =
            applied.map_err(|err| err.context(format!("migrate the {database} database")))?;
        if !applied.is_empty() {
            tracing::info!(
                migrations = %applied.join(", "),
                "applied {} migrations to the {database} database",
                applied.len()
            );
        }
    }
    Ok(databases)
}

/// Connects the pools to databases that have no pending migration (for operator commands, which
/// should not change a schema as a side effect).
pub async fn connect_migrated(config: &ServeConfig) -> anyhow::Result<Databases> {
    let databases = connect_all(config).await?;
    migrate::ensure_applied(&databases.write, &databases.read, ", then run this again").await?;
    Ok(databases)
}

/// `cqrs-users migrate`: applies both databases' pending migrations; what it applied to each.
pub async fn migrate(config: &ServeConfig) -> anyhow::Result<[Migrated; 2]> {
    let (write, read) = connect_pair(config).await?;
    let write_applied = migrate::apply::<WriteMigrator>(&write)
        .await
        .map_err(|err| err.context("migrate the write database"))?;
    let read_applied = migrate::apply::<ReadMigrator>(&read)
        .await
        .map_err(|err| err.context("migrate the read database"))?;
    Ok([
        Migrated::new("write", config.write_database_url(), write_applied),
        Migrated::new("read", config.read_database_url(), read_applied),
    ])
}

/// `cqrs-users migrate status`: each database's applied and pending migrations.
pub async fn migration_status(config: &ServeConfig) -> anyhow::Result<[Migrations; 2]> {
    let (write, read) = connect_pair(config).await?;
    migration_status_of(config, &write, &read).await
}

async fn migration_status_of(
    config: &ServeConfig,
    write: &DatabaseConnection,
    read: &DatabaseConnection,
) -> anyhow::Result<[Migrations; 2]> {
    Ok([
        migrate::status::<WriteMigrator>(write, "write", config.write_database_url()).await?,
        migrate::status::<ReadMigrator>(read, "read", config.read_database_url()).await?,
    ])
}

/// Refuses a database URL of an engine this service does not run on, before anything is opened.
pub fn check_urls(config: &ServeConfig) -> Result<(), ConnectError> {
    connect::engine(config.write_database_url())?;
    connect::engine(config.read_database_url())?;
    Ok(())
}

/// The write and read pools alone (for `migrate`).
async fn connect_pair(
    config: &ServeConfig,
) -> Result<(DatabaseConnection, DatabaseConnection), ConnectError> {
    let (write_url, read_url) = (config.write_database_url(), config.read_database_url());
    let limits = &config.session_limits;
    probe(write_url).await?;
    let write = open(write_url, Pool::Write, 1, limits).await?;
    let read = if read_url == write_url {
        write.clone()
    } else {
        probe(read_url).await?;
        open(read_url, Pool::Read, 1, limits).await?
    };
    Ok((write, read))
}

async fn connect_all(config: &ServeConfig) -> Result<Databases, ConnectError> {
    let write_url = config.write_database_url();
    let read_url = config.read_database_url();
    let limits = &config.session_limits;
    let ws = &config.ws_limits;
    check_urls(config)?;
    tokio::try_join!(probe(write_url), async {
        if read_url == write_url {
            return Ok(());
        }
        probe(read_url).await
    })?;
    // The first pool of each database alone (on SQLite it creates the file and turns its WAL on,
    // which two connections racing on a new file fail with `database is locked`), the rest at
    // once: each waits for its first connection (a PostgreSQL backend's start, ~6 ms here), and
    // start-up waited for them one after another.
    let write = open(write_url, Pool::Write, config.max_connections, limits).await?;
    let replays = ws.subscription_replay_connections;
    let (log, replay, (read, projector)) = tokio::try_join!(
        open(write_url, Pool::Log, LOG_READERS, limits),
        open(write_url, Pool::Replay(ws.replay_wait()), replays, limits),
        async {
            if read_url == write_url {
                let projector = if read_url.starts_with("sqlite:") {
                    write.clone()
                } else {
                    open(read_url, Pool::Projector, PROJECTOR_WRITERS, limits).await?
                };
                return Ok((write.clone(), projector));
            }
            let read = open(read_url, Pool::Read, config.read_max_connections, limits).await?;
            let projector = open(read_url, Pool::Projector, PROJECTOR_WRITERS, limits).await?;
            Ok((read, projector))
        },
    )?;
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
                sqlx::Error::Database(db) => {
                    match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                        Some(sqlite) => sqlite_gave_up(sqlite),
                        None => db.code().is_some_and(|c| GAVE_UP.contains(&&*c)),
                    }
                }
                _ => false,
            },
            _ => false,
        })
}

/// Whether SQLite gave up waiting for a lock another connection held past the busy timeout
/// (`--db-lock-timeout-ms`): `SQLITE_BUSY` or `SQLITE_LOCKED`, with any extended code.
fn sqlite_gave_up(err: &sea_orm::sqlx::sqlite::SqliteError) -> bool {
    use sea_orm::sqlx::error::DatabaseError as _;
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    err.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED))
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

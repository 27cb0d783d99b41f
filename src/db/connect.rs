//! Opening the pools: the URL's engine checked first, PostgreSQL tried once directly (so a server
//! that is not there is said so at once, not as a pool timeout after seconds of retries), SQLite's
//! settings, and the limits every PostgreSQL session starts with.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::pool::PoolConnectionMetadata;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

use crate::config::SessionLimits;
use crate::db::{Pool, liveness, redact};

/// How long a request waits for a pooled connection before it fails (fast, with a clear error).
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP keepalives the server sends on each session (seconds idle, seconds between probes, probes):
/// a session whose instance's host died or was cut off is closed within about 25 s, rolling
/// back its transaction. (A frozen process's kernel still answers them; the idle-in-transaction
/// limit covers that case.)
const TCP_KEEPALIVES: [(&str, &str); 3] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
];

/// Why a database could not be opened, said once and with what to do. URLs are redacted.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "{url} is not a database this service can use: use sqlite://PATH or \
         postgres://USER@HOST/DATABASE"
    )]
    Unsupported { url: String },
    #[error(
        "cannot connect to {url}: connection refused; is PostgreSQL running and listening there?"
    )]
    Refused { url: String },
    #[error("cannot connect to {url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("cannot create the directory {dir} for {url}: {reason}")]
    Directory {
        dir: String,
        url: String,
        reason: String,
    },
}

/// The engines this service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    Sqlite,
    Postgres,
}

/// The engine `url` names, or why it names none this service can use.
pub(super) fn engine(url: &str) -> Result<Engine, ConnectError> {
    if url.starts_with("sqlite:") {
        Ok(Engine::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Engine::Postgres)
    } else {
        Err(ConnectError::Unsupported { url: redact(url) })
    }
}

/// One direct connection to a PostgreSQL `url`, closed again: the pool would retry a refused
/// connection until its acquire timeout and then report only that it timed out.
pub(super) async fn probe(url: &str) -> Result<(), ConnectError> {
    if engine(url)? != Engine::Postgres {
        return Ok(());
    }
    let failed = |reason: Reason| reason.into_error(url);
    let options = PgConnectOptions::from_str(url).map_err(|e| failed(Reason::of_sqlx(&e)))?;
    match tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(failed(Reason::of_sqlx(&err))),
        Err(_) => Err(failed(Reason::Said(format!(
            "no answer within {} s",
            ACQUIRE_TIMEOUT.as_secs()
        )))),
    }
}

/// A pool, named (with the process id) in `application_name` for `pg_stat_activity`.
pub(super) async fn open(
    url: &str,
    pool: Pool,
    max_connections: u32,
    limits: &SessionLimits,
) -> Result<DatabaseConnection, ConnectError> {
    let writer = pool == Pool::Write;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(pool.acquire_timeout())
        .connect_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .sqlx_logging(false);
    let engine = engine(url)?;
    match engine {
        Engine::Sqlite => {
            let parsed = SqliteConnectOptions::from_str(url)
                .map_err(|e| Reason::of_sqlx(&e).into_error(url))?;
            let path = parsed.get_filename().to_owned();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| ConnectError::Directory {
                    dir: dir.display().to_string(),
                    url: redact(url),
                    reason: e.to_string(),
                })?;
            }
            if writer || pool == Pool::Projector {
                // SQLite has one writer at a time; a single connection queues writers in the
                // pool instead of making them race for the file lock.
                options.max_connections(1);
            }
            // The log is the truth: FULL syncs the WAL at every commit, so an acknowledged write
            // survives an OS crash or power loss. The read model can be rebuilt from the log, so
            // NORMAL (which survives a process crash; an OS crash may take its last commits, and
            // the projector simply applies them again) is enough there.
            let synchronous = if writer {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            };
            // No server to lose: a connection is tested only after a long idle, as sqlx's are.
            options.test_before_acquire_if_idle_for(liveness::TEST_IF_IDLE_FOR);
            let busy_timeout = sqlite_busy_timeout(limits);
            options.map_sqlx_sqlite_opts(move |o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(busy_timeout)
            });
        }
        Engine::Postgres => {
            let application_name = format!("cqrs-users {} pid {}", pool.name(), std::process::id());
            let settings = session_settings(limits);
            options.map_sqlx_postgres_before_acquire(|connection, meta| {
                Box::pin(async move { test_if_suspect(connection, meta).await })
            });
            options.map_sqlx_postgres_opts(move |o| {
                o.application_name(&application_name)
                    .options(settings.clone())
            });
        }
    }
    let mut db = Database::connect(options)
        .await
        .map_err(|err| Reason::of(&err).into_error(url))?;
    if engine == Engine::Postgres {
        db.set_metric_callback(|statement| {
            if statement.failed {
                liveness::statement_failed();
            }
        });
    }
    Ok(db)
}

/// Pings an idle connection `liveness` suspects before it is handed out; one that fails is
/// dropped and the pool tries the next (or opens one).
async fn test_if_suspect<C: sqlx::Connection>(
    connection: &mut C,
    meta: PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if liveness::must_test(meta.idle_for) {
        connection.ping().await?;
    }
    Ok(true)
}

/// How long a SQLite statement waits for a lock another connection holds (another process
/// writing the file: a second server, an operator's rebuild, a `sqlite3` shell) before it fails
/// with `database is locked`: `--db-lock-timeout-ms`, as PostgreSQL's `lock_timeout`; with 0 (off)
/// the longest SQLite takes (its timeout is a C `int` of milliseconds, about 24 days).
fn sqlite_busy_timeout(limits: &SessionLimits) -> Duration {
    match limits.db_lock_timeout_ms {
        0 => Duration::from_millis(i32::MAX as u64),
        ms => Duration::from_millis(ms.min(i32::MAX as u64)),
    }
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
        // Notices (`relation ... already exists, skipping` from the migrations' bookkeeping at
        // every start and readiness check) are not the service's to relay.
        ("client_min_messages", "warning".to_owned()),
    ];
    settings.extend(TCP_KEEPALIVES.map(|(k, v)| (k, v.to_owned())));
    settings
}

/// Why a connection failed, in a few words of its own (sqlx's and sea-orm's wrappers repeat it).
enum Reason {
    Refused,
    Said(String),
}

impl Reason {
    fn of(err: &DbErr) -> Reason {
        match err {
            DbErr::Conn(RuntimeErr::SqlxError(e)) => Reason::of_sqlx(e),
            DbErr::Conn(RuntimeErr::Internal(said)) => Reason::Said(said.clone()),
            DbErr::ConnectionAcquire(_) => Reason::Said(format!(
                "no connection within {} s",
                ACQUIRE_TIMEOUT.as_secs()
            )),
            other => Reason::Said(other.to_string()),
        }
    }

    fn of_sqlx(err: &sqlx::Error) -> Reason {
        match err {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                Reason::Refused
            }
            sqlx::Error::Io(io) => Reason::Said(io.to_string()),
            sqlx::Error::Database(db) => Reason::Said(db.message().to_owned()),
            sqlx::Error::Tls(tls) => Reason::Said(format!("TLS: {tls}")),
            sqlx::Error::PoolTimedOut => Reason::Said(format!(
                "no connection within {} s",
                ACQUIRE_TIMEOUT.as_secs()
            )),
            other => Reason::Said(other.to_string()),
        }
    }

    fn into_error(self, url: &str) -> ConnectError {
        let url = redact(url);
        match self {
            Reason::Refused => ConnectError::Refused { url },
            Reason::Said(reason) => ConnectError::Failed { url, reason },
        }
    }
}

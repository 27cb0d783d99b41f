//! The one place that reads configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod auth;
mod documents;
mod exposure;
mod limits;

pub use auth::{JwtConfig, JwtKeySource, Secret};
pub use documents::DocumentsConfig;
pub use exposure::{Auth, Exposure, is_loopback_host};
pub use limits::{HttpLimits, QueryLimits, WsLimits};

/// The SQLite databases `cargo run` uses when no `DATABASE_URL` is given.
pub const DEFAULT_WRITE_DATABASE_URL: &str = "sqlite://data/write.db";
pub const DEFAULT_READ_DATABASE_URL: &str = "sqlite://data/read.db";

/// A users service showing CQRS behind a GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "cqrs-users", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeConfig,

    /// Log filter: a level (`info`, `debug`) or `tracing` directives (`info,cqrs_users=debug`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API and the playground (what runs without a subcommand).
    Serve,
    /// Write the GraphQL schema (SDL) to standard output or a file.
    PrintSchema {
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Inspect or rebuild the read model (uses the same database flags as `serve`).
    Projections {
        #[command(subcommand)]
        action: ProjectionsCommand,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ProjectionsCommand {
    /// Print the checkpoint, the log head, the lag, the projecting instance and any failure.
    Status,
    /// Rebuild users_view from the whole event log while servers keep serving reads.
    Rebuild {
        /// Swap the rebuilt view in even though it ends behind the live checkpoint: the write
        /// database lost events the view had applied (restored from a backup, or its last
        /// commits lost in a crash), and the view should forget them.
        #[arg(long)]
        accept_lost_events: bool,
    },
}

/// How to serve.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// The write database (users, event log): `sqlite://path` or `postgres://...`.
    /// Default: SQLite files under ./data/ for both databases.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// The read database (users_view, checkpoints). Default: the write database.
    #[arg(long, env = "READ_DATABASE_URL", global = true)]
    pub read_database_url: Option<String>,

    /// Most connections in the write pool (SQLite always uses one: it has one writer).
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10, global = true)]
    pub max_connections: u32,

    /// Most connections in the read pool.
    #[arg(
        long,
        env = "READ_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub read_max_connections: u32,

    /// Most events the projector applies in one transaction.
    #[arg(long, env = "PROJECTOR_BATCH_SIZE", default_value_t = 500, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub projector_batch_size: u64,

    /// How long an instance's claim to run the projector lasts without renewal, in milliseconds:
    /// another instance takes over this long after the projecting one dies.
    #[arg(long, env = "PROJECTOR_LEASE_MS", default_value_t = 5000, global = true, value_parser = clap::value_parser!(u64).range(200..))]
    pub projector_lease_ms: u64,

    /// Live events buffered per instance for subscribers; a subscriber further behind catches up
    /// from the log instead.
    #[arg(long, env = "SUBSCRIPTION_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub subscription_buffer: u64,

    /// How often each instance's live-event tail reads the log without being woken, in
    /// milliseconds: a safety net for wake-ups that were lost (or writes made by other tools).
    #[arg(long, env = "LOG_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub log_poll_ms: u64,

    /// How long a query with a consistencyToken waits for the projector, in milliseconds.
    #[arg(long, env = "CONSISTENCY_TIMEOUT_MS", default_value_t = 5000)]
    pub consistency_timeout_ms: u64,

    /// Where queries are answered: `memory`, a copy of the read model this instance keeps from
    /// the log (queries read users_view while it loads, if it falls behind their consistency
    /// token, or once it gave up), or `database`, users_view only.
    #[arg(long, env = "READ_MODEL", value_enum, default_value_t = ReadModel::Memory)]
    pub read_model: ReadModel,

    /// Most users the in-memory read model holds: past it, it frees its memory and this instance
    /// answers every query from users_view until it restarts.
    #[arg(long, env = "READ_MODEL_MAX_USERS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_model_max_users: u64,

    #[command(flatten)]
    pub session_limits: SessionLimits,

    #[command(flatten)]
    pub query_limits: QueryLimits,

    #[command(flatten)]
    pub http_limits: HttpLimits,

    #[command(flatten)]
    pub ws_limits: WsLimits,

    #[command(flatten)]
    pub exposure: Exposure,

    #[command(flatten)]
    pub jwt: JwtConfig,

    #[command(flatten)]
    pub documents: DocumentsConfig,
}

/// Where queries are answered (`--read-model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadModel {
    /// This instance's in-memory copy, users_view when it cannot answer.
    Memory,
    /// users_view only.
    Database,
}

/// Server-side limits on every PostgreSQL session of the service (`SET` at connect), so that no
/// transaction of a frozen, partitioned or stuck instance stays open without bound: an open
/// transaction holds row and advisory locks, and its id holds back every reader of the log.
/// 0 turns a limit off. SQLite has its own busy timeout and one process.
#[derive(Debug, Clone, Copy, Args)]
pub struct SessionLimits {
    /// A transaction left idle this long is ended by the server (its session closed), in
    /// milliseconds. The service never waits on anything but the database inside a transaction,
    /// so only a frozen or cut-off instance gets here; this bounds how long it can hold a user's
    /// turn, the projection lease row, and the log's readers.
    #[arg(
        long,
        env = "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        default_value_t = 2000,
        global = true
    )]
    pub db_idle_in_transaction_timeout_ms: u64,

    /// The longest wait for a lock (a user's turn, a row, the lease), in milliseconds; the
    /// request then fails with SERVICE_UNAVAILABLE instead of hanging behind something the other
    /// limits do not bound (a psql session, a migration).
    #[arg(
        long,
        env = "DB_LOCK_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub db_lock_timeout_ms: u64,

    /// The longest one statement may run, in milliseconds. The service's statements touch a
    /// handful of rows; a rebuild lifts this for its own bulk copy.
    #[arg(
        long,
        env = "DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 10000,
        global = true
    )]
    pub db_statement_timeout_ms: u64,
}

impl ServeConfig {
    pub fn write_database_url(&self) -> &str {
        self.database_url
            .as_deref()
            .unwrap_or(DEFAULT_WRITE_DATABASE_URL)
    }

    pub fn read_database_url(&self) -> &str {
        match (&self.read_database_url, &self.database_url) {
            (Some(read), _) => read,
            (None, Some(write)) => write,
            (None, None) => DEFAULT_READ_DATABASE_URL,
        }
    }

    pub fn log_poll(&self) -> Duration {
        Duration::from_millis(self.log_poll_ms)
    }

    pub fn consistency_timeout(&self) -> Duration {
        Duration::from_millis(self.consistency_timeout_ms)
    }
}

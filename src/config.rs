//! The one place that reads configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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

    #[command(flatten)]
    pub session_limits: SessionLimits,

    #[command(flatten)]
    pub query_limits: QueryLimits,

    #[command(flatten)]
    pub http_limits: HttpLimits,
}

/// What one GraphQL request may ask for, checked before anything runs; each refusal is a GraphQL
/// error with its own `extensions.code`. The defaults pass GraphiQL's full introspection and every
/// playground operation with room to spare (README, "Limits").
#[derive(Debug, Clone, Copy, Args)]
pub struct QueryLimits {
    /// Most fields one HTTP request may resolve, fragments expanded and each `users.items`
    /// selection counted once per item `pageSize` allows; the operations of a batch share it.
    #[arg(long, env = "MAX_QUERY_COST", default_value_t = 5000)]
    pub max_query_cost: u64,

    /// Deepest nesting of fields in an operation.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 20)]
    pub max_query_depth: usize,

    /// Deepest nesting of selection sets, fragments and inline fragments included.
    #[arg(long, env = "MAX_RECURSIVE_DEPTH", default_value_t = 32)]
    pub max_recursive_depth: usize,

    /// Most aliases in one document.
    #[arg(long, env = "MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,

    /// Most fields at the root of one operation, fragments expanded.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Most lexical tokens in one document, counted before it is parsed.
    #[arg(long, env = "MAX_TOKENS", default_value_t = 1000)]
    pub max_tokens: usize,

    /// Most directives on one field, fragment spread or inline fragment.
    #[arg(long, env = "MAX_DIRECTIVES", default_value_t = 4)]
    pub max_directives: usize,

    /// Most errors in one response; the rest are replaced by one error saying how many.
    #[arg(long, env = "MAX_ERRORS", default_value_t = 50)]
    pub max_errors: usize,

    /// Most introspection fields listing types (`fields`, `interfaces`, `possibleTypes`,
    /// `inputFields`) nested in one another; full introspection nests 1.
    #[arg(long, env = "MAX_INTROSPECTION_DEPTH", default_value_t = 3)]
    pub max_introspection_depth: usize,
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

/// What one HTTP client may ask of an instance: how big, how slow, how many at once, and how long
/// shutdown waits for it. Each default is far above what the playground or Apollo Client send
/// (README, "Limits").
#[derive(Debug, Clone, Copy, Args)]
pub struct HttpLimits {
    /// The largest request body, in bytes; a larger one is refused with 413 as soon as its
    /// `Content-Length` or its streamed bytes pass it, the rest unread.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_body_bytes: u64,

    /// The largest request head (request line and headers), in bytes; hyper answers 431 past it.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024))]
    pub max_header_bytes: u64,

    /// How long a connection may take to send a request's headers, in milliseconds (also how long
    /// an idle keep-alive connection stays open); then it is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// How long a request's whole body may take to arrive, in milliseconds; then 408.
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,

    /// How long a request may take from its headers to its answer, in milliseconds, a
    /// consistency-token wait included; then 504. A WebSocket is bound only until its upgrade.
    #[arg(long, env = "REQUEST_DEADLINE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_deadline_ms: u64,

    /// Most requests one instance serves at once (`/healthz` and `/readyz` aside); the next is
    /// refused at once with 503 and `Retry-After` instead of queueing.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_in_flight: u64,

    /// After SIGTERM, how long in-flight requests get to finish, in milliseconds, before their
    /// connections are closed and the process goes on to exit.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl HttpLimits {
    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }

    pub fn max_header_bytes(&self) -> usize {
        usize::try_from(self.max_header_bytes).unwrap_or(usize::MAX)
    }

    pub fn max_in_flight(&self) -> usize {
        usize::try_from(self.max_in_flight).unwrap_or(usize::MAX)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
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

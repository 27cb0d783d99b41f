//! The one place that reads configuration: command-line flags, each with an environment variable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

mod auth;
mod documents;
mod exposure;
mod limits;
mod listen;
mod observability;

pub use auth::{JwtConfig, JwtKeySource, Secret};
pub use documents::DocumentsConfig;
pub use exposure::{Auth, Exposure, is_loopback_host};
pub use limits::{HttpLimits, QueryLimits, WsLimits};
pub use listen::ListenAddr;
pub use observability::{LogFormat, Observability, Telemetry};

/// The SQLite databases `cargo run` uses when no `DATABASE_URL` is given.
pub const DEFAULT_WRITE_DATABASE_URL: &str = "sqlite://data/write.db";
pub const DEFAULT_READ_DATABASE_URL: &str = "sqlite://data/read.db";

/// The log filter without `--log-level`: `info`, but sea-orm-migration's step-by-step lines are
/// for `debug` (start-up says what it applied in one line).
pub const DEFAULT_LOG_FILTER: &str = "info,sea_orm_migration=warn";

/// A users service showing CQRS behind a GraphQL API.
///
/// Without a subcommand it serves, taking the flags of `serve`.
#[derive(Debug, Parser)]
#[command(name = "cqrs-users", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The serving flags given without a subcommand (`cqrs-users --listen ...`).
    #[command(flatten)]
    pub serve: ServeConfig,

    #[command(flatten)]
    pub telemetry: Telemetry,
}

impl Cli {
    /// The command line of this process; prints what is wrong (or the help) and exits if it
    /// does not parse.
    pub fn from_command_line() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `args` (the program's name first). A serving flag before a subcommand is refused:
    /// clap would take it for the default `serve` and drop it.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
            let misplaced = command
                .get_arguments()
                .filter(|arg| !arg.is_global_set())
                .find(|arg| given(arg.get_id().as_str()));
            if let Some(arg) = misplaced {
                let flag = arg
                    .get_long()
                    .map_or_else(|| arg.get_id().to_string(), |long| format!("--{long}"));
                let fix = match name {
                    "serve" => format!("put it after `serve` (`cqrs-users serve {flag} ...`)"),
                    _ => format!("it is a flag of `serve`, not of `{name}`"),
                };
                let message = format!("{flag} comes before the subcommand `{name}`: {fix}");
                return Err(command.error(ErrorKind::ArgumentConflict, message));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|err| err.format(&mut command))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API and the playground (what runs without a subcommand).
    Serve(Box<ServeConfig>),
    /// Apply both databases' pending migrations, for servers started with --no-migrate
    /// (`migrate status` only shows them).
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateCommand>,
    },
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
pub enum MigrateCommand {
    /// Print each database's applied and pending migrations; changes nothing.
    Status,
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

/// How to serve; the database and projector flags are also those of the other subcommands.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on, HOST:PORT: an IP (`[::1]:8000` for IPv6) or a name resolved at
    /// start-up (`localhost:8000`); port 0 picks a free port. Without a JWT key only loopback
    /// addresses are allowed (see --insecure-no-auth).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen: ListenAddr,

    /// The write database (users, the event log): `sqlite://PATH` or
    /// `postgres://USER@HOST/DATABASE`. Default: sqlite://data/write.db.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", global = true)]
    pub database_url: Option<String>,

    /// The read database (users_view, its counts, the projection's checkpoint and lease).
    /// Default: the write database when --database-url is set; otherwise sqlite://data/read.db.
    #[arg(long, env = "READ_DATABASE_URL", value_name = "URL", global = true)]
    pub read_database_url: Option<String>,

    /// Most connections in the write pool, the commands' (and the queries' when the read
    /// database is the write one). SQLite: always 1, its one writer.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10, global = true)]
    pub max_connections: u32,

    /// Most connections in the read pool, the queries'; used only when the read database is
    /// not the write one (the write pool serves both otherwise).
    #[arg(
        long,
        env = "READ_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub read_max_connections: u32,

    /// Most events the projector applies in one transaction (and `projections rebuild` replays
    /// per batch).
    #[arg(long, env = "PROJECTOR_BATCH_SIZE", default_value_t = 500, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub projector_batch_size: u64,

    /// How long an instance's claim to run the projector lasts without renewal, in milliseconds:
    /// another instance takes over this long after the projecting one dies.
    #[arg(long, env = "PROJECTOR_LEASE_MS", default_value_t = 5000, global = true, value_parser = clap::value_parser!(u64).range(200..))]
    pub projector_lease_ms: u64,

    /// Do not apply migrations at start-up (a team that runs `cqrs-users migrate` itself):
    /// start-up fails while one is pending.
    #[arg(long, env = "NO_MIGRATE")]
    pub no_migrate: bool,

    /// Live events buffered per instance for subscribers; a subscriber further behind catches up
    /// from the log instead.
    #[arg(long, env = "SUBSCRIPTION_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub subscription_buffer: u64,

    /// How often each instance's live-event tail reads the log without being woken, in
    /// milliseconds: a safety net for wake-ups that were lost (or writes made by other tools).
    #[arg(long, env = "LOG_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub log_poll_ms: u64,

    /// How long a query with a consistencyToken waits for the projector, in milliseconds; then
    /// it fails with CONSISTENCY_TIMEOUT.
    #[arg(long, env = "CONSISTENCY_TIMEOUT_MS", default_value_t = 5000)]
    pub consistency_timeout_ms: u64,

    /// Where queries are answered: `memory`, a copy of the read model this instance keeps from
    /// the log (queries read users_view while it loads, for what it does not hold past
    /// --read-model-max-users, if it falls behind their consistency token, or once it gave up),
    /// or `database`, users_view only.
    #[arg(long, env = "READ_MODEL", value_enum, default_value_t = ReadModel::Memory)]
    pub read_model: ReadModel,

    /// Most users the in-memory read model holds: past it, it keeps only the hottest that many,
    /// and pages and the other users are read from users_view.
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

    #[command(flatten)]
    pub observability: Observability,
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
/// 0 turns a limit off. On SQLite only the lock limit applies, as its busy timeout.
#[derive(Debug, Clone, Copy, Args)]
pub struct SessionLimits {
    /// A transaction left idle this long is ended by the server (its session closed), in
    /// milliseconds. The service never waits on anything but the database inside a transaction,
    /// so only a frozen or cut-off instance gets here; this bounds how long it can hold a user's
    /// turn, the projection lease row, and the log's readers. 0: off.
    #[arg(
        long,
        env = "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        default_value_t = 2000,
        global = true
    )]
    pub db_idle_in_transaction_timeout_ms: u64,

    /// The longest wait for a lock (a user's turn, a row, the lease; on SQLite the file's write
    /// lock another process holds), in milliseconds; the request then fails with
    /// SERVICE_UNAVAILABLE instead of hanging behind something the other limits do not bound (a
    /// psql session, a migration, a `sqlite3` shell). 0: off.
    #[arg(
        long,
        env = "DB_LOCK_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub db_lock_timeout_ms: u64,

    /// The longest one statement may run, in milliseconds. The service's statements touch a
    /// handful of rows; a rebuild lifts this for its own bulk copy. 0: off.
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

//! The limits on what clients may ask of an instance: GraphQL documents, HTTP requests and
//! connections, WebSockets and subscribers (README, "Limits"). Flattened into `ServeConfig`.

use std::time::Duration;

use clap::Args;

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

/// Limits on GraphQL over WebSocket and on what subscribers may take from the instance. The
/// codes are graphql-transport-ws's (4408, 4401, 4409, 4429, 4400); the legacy `graphql-ws`
/// protocol gets the same. Each default leaves room for GraphiQL and Apollo's `GraphQLWsLink`,
/// which send `connection_init` at once and hold a few subscriptions per socket.
#[derive(Debug, Clone, Copy, Args)]
pub struct WsLimits {
    /// How long a new WebSocket may take to send `connection_init`, in milliseconds; it is then
    /// closed with 4408 (the graphql-ws library's `connectionInitWaitTimeout` is also 3 s).
    #[arg(long, env = "WS_INIT_TIMEOUT_MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_init_timeout_ms: u64,

    /// How often each WebSocket is sent a ping frame, in milliseconds. Every WebSocket stack
    /// (browsers included) answers it itself, so no GraphQL client needs to know.
    #[arg(long, env = "WS_PING_INTERVAL_MS", default_value_t = 15000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_ping_interval_ms: u64,

    /// How long a WebSocket peer may take to answer a ping, or to take a message sent to it, in
    /// milliseconds; it is then closed with 3008 (timeout) as dead.
    #[arg(long, env = "WS_PONG_TIMEOUT_MS", default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_pong_timeout_ms: u64,

    /// The largest WebSocket message (and frame) a client may send, in bytes; a larger one closes
    /// the socket with 1009 before it is buffered.
    #[arg(long, env = "WS_MAX_MESSAGE_BYTES", default_value_t = 65536, value_parser = clap::value_parser!(u64).range(256..=(64 << 20)))]
    pub ws_max_message_bytes: u64,

    /// The most operations open at once on one WebSocket; one more is refused with an `error`
    /// message (`TOO_MANY_SUBSCRIPTIONS`) and the others go on.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_max_subscriptions: u64,

    /// The most WebSockets one instance serves at once; beyond it an upgrade is refused with 503
    /// and `SERVICE_OVERLOADED`. Each holds a file descriptor, and many systems give a process
    /// 1024 unless raised: this leaves half to HTTP and the database pools.
    #[arg(long, env = "WS_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub ws_max_connections: u64,

    /// Connections to the write database for subscribers replaying the log, their own pool:
    /// the projector and the live tail never wait for them.
    #[arg(long, env = "SUBSCRIPTION_REPLAY_CONNECTIONS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscription_replay_connections: u32,

    /// How long a replay waits for one of those connections, in milliseconds; the subscription
    /// then fails with `SERVICE_UNAVAILABLE`.
    #[arg(long, env = "SUBSCRIPTION_REPLAY_WAIT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub subscription_replay_wait_ms: u64,
}

impl WsLimits {
    pub fn init_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_init_timeout_ms)
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ws_ping_interval_ms)
    }

    pub fn pong_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_pong_timeout_ms)
    }

    pub fn replay_wait(&self) -> Duration {
        Duration::from_millis(self.subscription_replay_wait_ms)
    }
}

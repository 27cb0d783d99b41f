//! Read side: the `QueryBus`, one file per query with its handler, and `QueryError`.
//!
//! Handlers read only the read model, never the write tables: this instance's in-memory copy
//! (`projections::MemoryModel`) when it can answer, else the read database (`users_view`,
//! `users_view_stats`). A query may carry a consistency token; the bus then waits, bounded, until
//! either model has applied that event and reads that one, so a client reads its own write or gets
//! `ConsistencyTimeout`, never older data.
//! A token past the log's head, which no write issued, is refused (`head.rs`: the bus's one
//! look at the log, never a handler's).
//! Every query needs `users:read`; the bus checks it before anything else, once.

mod get_user_by_id;
mod head;
mod list_users;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::domain::{Caller, Denied, InvalidInput, LogPosition, UserId};
use crate::projections::MemoryModel;
use crate::signals::ProjectionProgress;
use crate::telemetry::{self, Fault};

pub use get_user_by_id::GetUserById;
pub use list_users::{ListUsers, PageRequest, UserPage};

use head::LogHead;

/// A question to the read model.
pub trait Query: Send + 'static {
    /// The name in logs and spans.
    const NAME: &'static str;
    /// What the handler answers.
    type Output: Send;
    /// The write this query must see, if the client passed a consistency token.
    fn consistency(&self) -> Option<LogPosition>;
    /// The answer from the in-memory model, or `None` when it cannot answer.
    fn answer_from_memory(&self, memory: &MemoryModel) -> Option<Result<Self::Output, QueryError>>;
}

/// Answers one query type. Implemented by `QueryHandlers`, once per query.
pub trait Handler<Q: Query> {
    fn handle(&self, query: Q) -> impl Future<Output = Result<Q::Output, QueryError>> + Send;
}

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The caller may not read (see `Denied` for what clients see).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// An argument no valid request carries: a consistency token past the log's head. Clients
    /// see `BAD_USER_INPUT`.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The read model has no user with this id. Clients see `NOT_FOUND`.
    #[error("no user with id {0}")]
    UserNotFound(UserId),
    /// The read model did not reach the consistency token in time. The write is committed;
    /// clients see `CONSISTENCY_TIMEOUT` and should retry the read, not the write.
    #[error(
        "the read model has not caught up with the consistency token within {} ms; the write is committed, retry the read",
        waited.as_millis()
    )]
    ConsistencyTimeout {
        token: LogPosition,
        waited: Duration,
    },
    /// The read database could not be reached, or a bug (see `Fault` for what clients see).
    #[error(transparent)]
    Fault(#[from] Fault),
}

impl From<anyhow::Error> for QueryError {
    fn from(err: anyhow::Error) -> Self {
        QueryError::Fault(err.into())
    }
}

impl QueryError {
    /// A short label for the outcome in spans and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            QueryError::Invalid(_) => "bad_user_input",
            QueryError::UserNotFound(_) => "not_found",
            QueryError::Denied(Denied::Unauthenticated) => "unauthenticated",
            QueryError::Denied(Denied::Forbidden(_)) => "forbidden",
            QueryError::ConsistencyTimeout { .. } => "consistency_timeout",
            QueryError::Fault(fault) => fault.outcome(),
        }
    }
}

/// The handlers of every query, with the read database. Built once at start-up.
pub struct QueryHandlers {
    db: DatabaseConnection,
    /// The in-memory model, which a point read it missed reads through to (`None` with
    /// `--read-model database`).
    memory: Option<MemoryModel>,
}

impl QueryHandlers {
    pub fn new(read_db: DatabaseConnection, memory: Option<MemoryModel>) -> Self {
        Self {
            db: read_db,
            memory,
        }
    }
}

/// Routes each query of a caller who may read to its handler, after waiting for its consistency
/// token, with a span per query (name, outcome, duration).
#[derive(Clone)]
pub struct QueryBus {
    handlers: Arc<QueryHandlers>,
    progress: Arc<ProjectionProgress>,
    head: Arc<LogHead>,
    /// This instance's in-memory model (`None` with `--read-model database`).
    memory: Option<MemoryModel>,
    consistency_timeout: Duration,
}

/// How long a usable in-memory model gets to reach a token alone before `users_view` races it.
/// The model hears of a write within milliseconds (its tail is woken by the commit, or by the
/// committing instance's `NOTIFY`), while the database path first asks the log whether the token
/// names a write at all (`head.rs`): one query per new token, which a read right after its write
/// would otherwise pay almost every time. A token no write issued is refused this much later.
const MEMORY_HEAD_START: Duration = Duration::from_millis(50);

/// Which model has reached what a query must see.
enum Reached {
    Memory,
    Database,
}

impl QueryBus {
    /// `log`: the pool that reads the event log, for telling a token no write issued (past the
    /// log's head) from one the read model has not reached yet.
    pub fn new(
        handlers: QueryHandlers,
        progress: Arc<ProjectionProgress>,
        log: DatabaseConnection,
        memory: Option<MemoryModel>,
        consistency_timeout: Duration,
    ) -> Self {
        Self {
            handlers: Arc::new(handlers),
            progress,
            head: Arc::new(LogHead::new(log)),
            memory,
            consistency_timeout,
        }
    }

    pub async fn dispatch<Q>(&self, caller: &Caller, query: Q) -> Result<Q::Output, QueryError>
    where
        Q: Query,
        QueryHandlers: Handler<Q>,
    {
        let answered = async {
            caller.identity.may_read()?;
            let token = query.consistency();
            if let Some(memory) = &self.memory
                && let Reached::Memory = self.first_to_reach(memory, token).await?
                && let Some(answer) = query.answer_from_memory(memory)
            {
                return answer;
            }
            if let Some(token) = token {
                self.wait_past(token).await?;
            }
            self.handlers.handle(query).await
        };
        telemetry::dispatched("query", Q::NAME, answered, QueryError::outcome).await
    }

    /// The model to read: memory if it is usable and past `token`, else the first of the two to
    /// get past `token`, within the consistency timeout.
    async fn first_to_reach(
        &self,
        memory: &MemoryModel,
        token: Option<LogPosition>,
    ) -> Result<Reached, QueryError> {
        let Some(token) = token else {
            return Ok(if memory.is_usable() {
                Reached::Memory
            } else {
                Reached::Database
            });
        };
        if memory.is_usable()
            && tokio::time::timeout(MEMORY_HEAD_START, memory.reached(token))
                .await
                .is_ok()
        {
            return Ok(Reached::Memory);
        }
        tokio::select! {
            biased;
            () = memory.reached(token) => Ok(Reached::Memory),
            reached = self.wait_past(token) => reached.map(|()| Reached::Database),
        }
    }

    async fn wait_past(&self, token: LogPosition) -> Result<(), QueryError> {
        if self.progress.applied() >= token {
            return Ok(());
        }
        let in_log = self.head.holds(token).await.map_err(anyhow::Error::from)?;
        if !in_log {
            let reason = "is past the end of the event log: no write issued it";
            return Err(InvalidInput::new("consistencyToken", reason).into());
        }
        if self
            .progress
            .wait_past(token, self.consistency_timeout)
            .await
        {
            Ok(())
        } else {
            Err(QueryError::ConsistencyTimeout {
                token,
                waited: self.consistency_timeout,
            })
        }
    }
}

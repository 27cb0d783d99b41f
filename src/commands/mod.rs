//! Write side: the `CommandBus`, one file per command with its rules and handler, and `CommandError`.
//!
//! A handler loads, decides, writes. In ONE transaction it waits for its turn and loads the user
//! (`load_for_change`), lets the command's pure `decide` apply the business rules (`decide.rs`),
//! and writes what was decided: the `users` row and exactly one event appended to `user_events`.
//! A command holds only valid values (parsed at the GraphQL edge), so rules are about state, not
//! input shapes. Routing is by type: `CommandBus::dispatch` accepts a command only if
//! `CommandHandlers` implements `Handler` for it, so a command without a handler does not compile.
//!
//! Authorization happens here, once: the bus refuses a caller whose scopes allow no command of
//! the kind (`Command::permitted`) before anything runs, and a change to an existing user is
//! checked against the caller again in `decide` (`users:write:self` may change its own user
//! only), before the rules that would say whether the user exists.

mod create_user;
mod creates_together;
mod decide;
mod delete_user;
mod turn;
mod update_user_name;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, QuerySelect,
    Value,
};

use crate::domain::{Caller, Denied, Identity, LogPosition, User, UserId};
use crate::entities::users;
use crate::events;
use crate::signals::Wakeup;
use crate::telemetry::{self, Fault};

use creates_together::CreatesTogether;
use decide::Change;
use turn::Turns;

pub use create_user::CreateUser;
pub use delete_user::DeleteUser;
pub use update_user_name::UpdateUserName;

/// A request to change the write model.
pub trait Command: Send + 'static {
    /// The name in logs and spans.
    const NAME: &'static str;
    /// What the handler returns on success.
    type Output: Send;
    /// Whether `identity` may send commands of this kind at all; which users it may change is
    /// for the command's `decide` to say.
    fn permitted(identity: &Identity) -> Result<(), Denied>;
}

/// Handles one command type. Implemented by `CommandHandlers`, once per command.
pub trait Handler<C: Command> {
    fn handle(
        &self,
        command: C,
        caller: &Caller,
    ) -> impl Future<Output = Result<C::Output, CommandError>> + Send;
}

/// What a command wrote, and where its event stands in the log (the consistency token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed<T> {
    pub value: T,
    pub position: LogPosition,
}

/// Why a command was rejected. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The caller may not do this (see `Denied` for what clients see). Checked before anything
    /// that depends on the target user, so it never says whether the user exists.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Another live user has this email address. Clients see `CONFLICT`.
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    /// No live user has this id. Clients see `NOT_FOUND`.
    #[error("no user with id {0}")]
    UserNotFound(UserId),
    /// The command named an `expectedVersion` the user is not at. Clients see `CONFLICT` with
    /// `expectedVersion` and `actualVersion` in the extensions.
    #[error("user {id} is at version {actual}, not at the expected version {expected}")]
    VersionMismatch {
        id: UserId,
        expected: i32,
        actual: i32,
    },
    /// The database could not be reached, or a bug (see `Fault` for what clients see). Nothing
    /// was written, or, if the connection broke during the commit, the outcome is unknown.
    #[error(transparent)]
    Fault(#[from] Fault),
}

impl From<anyhow::Error> for CommandError {
    fn from(err: anyhow::Error) -> Self {
        CommandError::Fault(err.into())
    }
}

impl CommandError {
    /// A short label for the outcome in spans and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            CommandError::EmailTaken(_) | CommandError::VersionMismatch { .. } => "conflict",
            CommandError::UserNotFound(_) => "not_found",
            CommandError::Denied(Denied::Unauthenticated) => "unauthenticated",
            CommandError::Denied(Denied::Forbidden(_)) => "forbidden",
            CommandError::Fault(fault) => fault.outcome(),
        }
    }
}

/// The handlers of every command, with what they need. Built once at start-up.
pub struct CommandHandlers {
    db: DatabaseConnection,
    /// Woken after each commit that appended an event. Start-up decides who listens: on SQLite
    /// it is the same wake-up the log's followers wait on; on PostgreSQL a publisher
    /// (`publish_appends`) passes it on to them and `NOTIFY`s the other instances.
    committed: Wakeup,
    /// The writers creates queue for (see `creates_together`).
    creates: CreatesTogether,
}

impl CommandHandlers {
    /// The handlers on `db`; this starts the writers of creates, so it must run in a tokio
    /// runtime.
    pub fn new(db: DatabaseConnection, committed: Wakeup) -> Self {
        let creates = CreatesTogether::start(db.clone());
        Self {
            db,
            committed,
            creates,
        }
    }

    async fn begin(&self) -> anyhow::Result<DatabaseTransaction> {
        crate::db::begin_write(&self.db)
            .await
            .context("begin write transaction")
    }

    /// Commits the transaction that wrote `value` and appended its event at `position`, then
    /// answers them (see `committed`).
    async fn commit<T>(
        &self,
        txn: DatabaseTransaction,
        value: T,
        position: LogPosition,
    ) -> Result<Committed<T>, CommandError> {
        txn.commit().await.context("commit write transaction")?;
        Ok(self.committed(value, position))
    }

    /// Wakes `committed` for an event that is committed, and answers it with its value.
    fn committed<T>(&self, value: T, position: LogPosition) -> Committed<T> {
        self.committed.wake();
        Committed { value, position }
    }
}

/// Whether the write model's change and its event go in one statement: on PostgreSQL
/// (`events::append_with`); SQLite has no data-modifying CTEs, so there they are two statements
/// in the write transaction (which holds the database's one write lock, so nothing comes between).
fn in_one_statement(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Appends the change's event, caused by `caller`, in the transaction that wrote its row.
async fn append<T>(
    txn: &DatabaseTransaction,
    change: &Change<T>,
    caller: &Caller,
) -> anyhow::Result<LogPosition> {
    let event = change.event.clone();
    events::append(
        txn,
        change.user_id,
        change.version,
        change.occurred_at,
        event,
        caller,
    )
    .await
}

/// Writes the row change `ctes` (see `events::WithChange`) and appends the change's event, caused
/// by `caller`, in one statement; `None` when the row change wrote nothing, and then neither did
/// the statement.
async fn append_with<T>(
    db: &impl ConnectionTrait,
    ctes: &str,
    values: Vec<Value>,
    change: &Change<T>,
    caller: &Caller,
) -> anyhow::Result<Option<LogPosition>> {
    let with = events::WithChange { ctes, values };
    let (id, version, at) = (change.user_id, change.version, change.occurred_at);
    events::append_with(db, with, id, version, at, &change.event, caller).await
}

/// Routes each command to its handler, with a span per command (name, outcome, duration), once
/// the caller is permitted to send it. The one place for concerns every command shares.
#[derive(Clone)]
pub struct CommandBus {
    handlers: Arc<CommandHandlers>,
}

impl CommandBus {
    pub fn new(handlers: CommandHandlers) -> Self {
        Self {
            handlers: Arc::new(handlers),
        }
    }

    pub async fn dispatch<C>(&self, caller: &Caller, command: C) -> Result<C::Output, CommandError>
    where
        C: Command,
        CommandHandlers: Handler<C>,
    {
        let handled = async {
            C::permitted(&caller.identity)?;
            self.handlers.handle(command, caller).await
        };
        telemetry::dispatched("command", C::NAME, handled, CommandError::outcome).await
    }
}

/// Waits for the user's turn (see `turn`), then loads the user and locks its row until the
/// transaction ends (`FOR UPDATE` on PostgreSQL; on SQLite the transaction already holds the
/// write lock). `None` when there is no such user; what that means is for `decide` to say.
async fn load_for_change(
    txn: &DatabaseTransaction,
    id: UserId,
    turns: Turns,
) -> anyhow::Result<Option<User>> {
    turn::user(txn, id, turns).await?;
    let row = users::Entity::find_by_id(id.as_uuid())
        .lock_exclusive()
        .one(txn)
        .await
        .context("load user for change")?;
    Ok(row.map(User::from))
}

impl From<users::Model> for User {
    fn from(row: users::Model) -> Self {
        User {
            id: row.id.into(),
            name: row.name,
            email: row.email,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

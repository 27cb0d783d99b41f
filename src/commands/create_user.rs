//! `CreateUser`: registers a user under an email address no live user has.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait, SqlErr};

use crate::commands::decide::Change;
use crate::commands::{Command, CommandError, CommandHandlers, Committed, Handler, turn};
use crate::domain::{self, Caller, Denied, Email, Identity, User, UserId, UserName};
use crate::entities::users;
use crate::events::UserEvent;

/// Create a user at version 1.
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub name: UserName,
    pub email: Email,
}

/// Decides a create: `UserCreated` at version 1, with the id and time the handler supplies.
/// Whether the address is free is not decided here: only the database sees concurrent creates,
/// so its unique index settles it when the handler inserts the row (`EmailTaken`).
pub(super) fn decide(command: &CreateUser, id: UserId, now: DateTime<Utc>) -> Change<User> {
    let user = User {
        id,
        name: command.name.as_str().to_owned(),
        email: command.email.as_str().to_owned(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let event = UserEvent::UserCreated {
        name: user.name.clone(),
        email: user.email.clone(),
    };
    Change::leaving(user, event)
}

impl Command for CreateUser {
    const NAME: &'static str = "CreateUser";
    type Output = Committed<User>;
    fn permitted(identity: &Identity) -> Result<(), Denied> {
        identity.may_create()
    }
}

impl Handler<CreateUser> for CommandHandlers {
    async fn handle(
        &self,
        command: CreateUser,
        caller: &Caller,
    ) -> Result<Committed<User>, CommandError> {
        let change = decide(&command, UserId::new(), domain::now());
        let txn = self.begin().await?;
        // Before the insert takes a transaction id: after a delete that frees this address.
        turn::email(&txn, &command.email).await?;
        insert(&txn, &change.value).await?;
        self.append_and_commit(txn, change, caller).await
    }
}

/// Inserts the new user's row. The unique index on the (lower-cased) email decides races between
/// concurrent creates: a violation means another live user has the address.
async fn insert(txn: &DatabaseTransaction, user: &User) -> Result<(), CommandError> {
    let row = users::ActiveModel {
        id: Set(user.id.as_uuid()),
        name: Set(user.name.clone()),
        email: Set(user.email.clone()),
        version: Set(user.version),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    };
    match users::Entity::insert(row).exec_without_returning(txn).await {
        Ok(_) => Ok(()),
        Err(err) => Err(match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                CommandError::EmailTaken(user.email.clone())
            }
            _ => anyhow::Error::new(err).context("insert user").into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::decide::fixtures::{ada, now};

    #[test]
    fn creating_a_user_appends_user_created_at_version_1_with_name_and_email() {
        let given_id = ada(1).id;
        let when = CreateUser {
            name: UserName::parse(" Ada Lovelace ").expect("a valid name"),
            email: Email::parse("Ada@Example.com").expect("a valid address"),
        };
        let then = decide(&when, given_id, now());
        let created = User {
            created_at: now(),
            updated_at: now(),
            ..ada(1)
        };
        let event = UserEvent::UserCreated {
            name: "Ada Lovelace".to_owned(),
            email: "ada@example.com".to_owned(),
        };
        assert_eq!(
            then,
            Change {
                user_id: given_id,
                version: 1,
                occurred_at: now(),
                event,
                value: created,
            }
        );
    }
}

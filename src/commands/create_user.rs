//! `CreateUser`: registers a user under an email address no live user has.

use chrono::{DateTime, Utc};
use sea_orm::Value;

use crate::commands::decide::Change;
use crate::commands::{Command, CommandError, CommandHandlers, Committed, Handler};
use crate::domain::{self, Caller, Denied, Email, Identity, User, UserId, UserName};
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
        // With the creates queued meanwhile, in one transaction.
        let appended = self.creates.create(change.clone(), caller).await?;
        // Nothing was written: another live user has the address.
        let taken = || CommandError::EmailTaken(change.value.email.clone());
        let position = appended.ok_or_else(taken)?;
        Ok(self.committed(change.value, position))
    }
}

/// The new user's row as a batch of creates writes it (`creates_together`): id, name, email,
/// version, created_at, updated_at.
pub(super) fn row_values(user: &User) -> Vec<Value> {
    vec![
        user.id.as_uuid().into(),
        user.name.clone().into(),
        user.email.clone().into(),
        user.version.into(),
        user.created_at.into(),
        user.updated_at.into(),
    ]
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

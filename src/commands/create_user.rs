//! `CreateUser`: registers a user under an email address no live user has.

use sea_orm::{ActiveValue::Set, EntityTrait, SqlErr};

use crate::commands::{Command, CommandError, CommandHandlers, Committed, Handler};
use crate::domain::{self, Email, User, UserId, UserName};
use crate::entities::users;
use crate::events::{self, UserEvent};

/// Create a user at version 1.
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub name: UserName,
    pub email: Email,
}

impl Command for CreateUser {
    const NAME: &'static str = "CreateUser";
    type Output = Committed<User>;
}

impl Handler<CreateUser> for CommandHandlers {
    async fn handle(&self, command: CreateUser) -> Result<Committed<User>, CommandError> {
        let now = domain::now();
        let user = User {
            id: UserId::new(),
            name: command.name.into_inner(),
            email: command.email.as_str().to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let txn = self.begin().await?;
        // Before the insert takes a transaction id: after a delete that frees this address.
        super::turn::email(&txn, &command.email).await?;
        let row = users::ActiveModel {
            id: Set(user.id.as_uuid()),
            name: Set(user.name.clone()),
            email: Set(user.email.clone()),
            version: Set(user.version),
            created_at: Set(now),
            updated_at: Set(now),
        };
        // The unique index on the (lower-cased) email decides races between concurrent creates.
        if let Err(err) = users::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
        {
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => CommandError::EmailTaken(user.email),
                _ => anyhow::Error::new(err).context("insert user").into(),
            });
        }
        let created = UserEvent::UserCreated {
            name: user.name.clone(),
            email: user.email.clone(),
        };
        let position = events::append(&txn, user.id, user.version, now, created).await?;
        self.commit(txn).await?;
        Ok(Committed {
            value: user,
            position,
        })
    }
}

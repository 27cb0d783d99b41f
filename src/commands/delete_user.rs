//! `DeleteUser`: removes a user; its email address is free again afterwards.

use anyhow::Context as _;
use sea_orm::EntityTrait;

use crate::commands::{
    Command, CommandError, CommandHandlers, Committed, Handler, Turns, load_for_change,
};
use crate::domain::{self, UserId};
use crate::entities::users;
use crate::events::{self, UserEvent};

/// Delete a user. The event log keeps its history.
#[derive(Debug, Clone)]
pub struct DeleteUser {
    pub id: UserId,
    pub expected_version: Option<i32>,
}

impl Command for DeleteUser {
    const NAME: &'static str = "DeleteUser";
    type Output = Committed<UserId>;
}

impl Handler<DeleteUser> for CommandHandlers {
    async fn handle(&self, command: DeleteUser) -> Result<Committed<UserId>, CommandError> {
        let txn = self.begin().await?;
        let current = load_for_change(
            &txn,
            command.id,
            command.expected_version,
            Turns::UserAndEmail,
        )
        .await?;
        users::Entity::delete_by_id(current.id)
            .exec(&txn)
            .await
            .context("delete user")?;
        let version = current.version + 1;
        let position = events::append(
            &txn,
            command.id,
            version,
            domain::now(),
            UserEvent::UserDeleted,
        )
        .await?;
        self.commit(txn).await?;
        Ok(Committed {
            value: command.id,
            position,
        })
    }
}

//! `UpdateUserName`: renames a user, optionally only if it is still at an expected version.

use anyhow::Context as _;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};

use crate::commands::{
    Command, CommandError, CommandHandlers, Committed, Handler, Turns, load_for_change,
};
use crate::domain::{self, User, UserId, UserName};
use crate::events::{self, UserEvent};

/// Rename a user. Renaming to the current name changes nothing and appends no event.
#[derive(Debug, Clone)]
pub struct UpdateUserName {
    pub id: UserId,
    pub name: UserName,
    pub expected_version: Option<i32>,
}

impl Command for UpdateUserName {
    const NAME: &'static str = "UpdateUserName";
    type Output = Committed<User>;
}

impl Handler<UpdateUserName> for CommandHandlers {
    async fn handle(&self, command: UpdateUserName) -> Result<Committed<User>, CommandError> {
        let txn = self.begin().await?;
        let current =
            load_for_change(&txn, command.id, command.expected_version, Turns::User).await?;
        let new_name = command.name.into_inner();
        if current.name == new_name {
            // Nothing changes; the token of the user's latest event still reads this state.
            let position = events::latest_of(&txn, command.id)
                .await?
                .context("a live user has no events")?;
            return Ok(Committed {
                value: current.into(),
                position,
            });
        }
        let now = domain::now();
        let previous_name = current.name.clone();
        let version = current.version + 1;
        let mut row = current.into_active_model();
        row.name = Set(new_name.clone());
        row.version = Set(version);
        row.updated_at = Set(now);
        let updated = row.update(&txn).await.context("update user name")?;
        let renamed = UserEvent::UserRenamed {
            previous_name,
            new_name,
        };
        let position = events::append(&txn, command.id, version, now, renamed).await?;
        self.commit(txn).await?;
        Ok(Committed {
            value: updated.into(),
            position,
        })
    }
}

//! `DeleteUser`: removes a user; its email address is free again afterwards.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;

use crate::commands::decide::{Change, existing};
use crate::commands::{
    Command, CommandError, CommandHandlers, Committed, Handler, Turns, append, append_with,
    in_one_statement, load_for_change,
};
use crate::domain::{self, Caller, Denied, Identity, User, UserId};
use crate::entities::users;
use crate::events::UserEvent;

/// Delete a user. The event log keeps its history.
#[derive(Debug, Clone)]
pub struct DeleteUser {
    pub id: UserId,
    pub expected_version: Option<i32>,
}

/// Decides `caller`'s delete of `current` at `now`: after the rules of `existing`, `UserDeleted`
/// as the next version.
pub(super) fn decide(
    current: Option<User>,
    command: &DeleteUser,
    caller: &Identity,
    now: DateTime<Utc>,
) -> Result<Change<UserId>, CommandError> {
    let user = existing(current, command.id, command.expected_version, caller)?;
    Ok(Change {
        user_id: user.id,
        version: user.version + 1,
        occurred_at: now,
        event: UserEvent::UserDeleted,
        value: user.id,
    })
}

impl Command for DeleteUser {
    const NAME: &'static str = "DeleteUser";
    type Output = Committed<UserId>;
    fn permitted(identity: &Identity) -> Result<(), Denied> {
        identity.may_change_some()
    }
}

impl Handler<DeleteUser> for CommandHandlers {
    async fn handle(
        &self,
        command: DeleteUser,
        caller: &Caller,
    ) -> Result<Committed<UserId>, CommandError> {
        let txn = self.begin().await?;
        let current = load_for_change(&txn, command.id, Turns::UserAndEmail).await?;
        let change = decide(current, &command, &caller.identity, domain::now())?;
        let position = if in_one_statement(&txn) {
            let values = vec![change.user_id.as_uuid().into()];
            append_with(&txn, DELETED, values, &change, caller)
                .await?
                .context("the locked row was not deleted")?
        } else {
            users::Entity::delete_by_id(change.user_id.as_uuid())
                .exec(&txn)
                .await
                .context("delete user")?;
            append(&txn, &change, caller).await?
        };
        self.commit(txn, change.value, position).await
    }
}

/// On PostgreSQL, the delete's row change, in the statement that appends its event.
const DELETED: &str = "changed AS (DELETE FROM users WHERE id = $1 RETURNING id)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::decide::fixtures::{ada, now};

    #[test]
    fn deleting_a_user_appends_user_deleted_at_the_next_version() {
        let given = ada(3);
        let when = DeleteUser {
            id: given.id,
            expected_version: None,
        };
        let then = decide(Some(given.clone()), &when, &Identity::Developer, now());
        let change = Change {
            user_id: given.id,
            version: 4,
            occurred_at: now(),
            event: UserEvent::UserDeleted,
            value: given.id,
        };
        assert_eq!(then.unwrap(), change);
    }
}

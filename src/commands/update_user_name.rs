//! `UpdateUserName`: renames a user, optionally only if it is still at an expected version.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ActiveValue::Unchanged, DatabaseTransaction, Value,
};

use crate::commands::decide::{Change, existing};
use crate::commands::{
    Command, CommandError, CommandHandlers, Committed, Handler, Turns, append, append_with,
    in_one_statement, load_for_change,
};
use crate::domain::{self, Caller, Denied, Identity, User, UserId, UserName};
use crate::entities::users;
use crate::events::{self, UserEvent};

/// Rename a user. Renaming to the current name changes nothing and appends no event.
#[derive(Debug, Clone)]
pub struct UpdateUserName {
    pub id: UserId,
    pub name: UserName,
    pub expected_version: Option<i32>,
}

/// What a rename decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rename {
    /// Append `UserRenamed`; the user becomes the change's value.
    Append(Change<User>),
    /// The user already has the name: append nothing, answer the user as it is.
    Unchanged(User),
}

/// Decides `caller`'s rename of `current` at `now`: after the rules of `existing`, `UserRenamed`
/// as the next version, or nothing when the user already has the name.
pub(super) fn decide(
    current: Option<User>,
    command: &UpdateUserName,
    caller: &Identity,
    now: DateTime<Utc>,
) -> Result<Rename, CommandError> {
    let user = existing(current, command.id, command.expected_version, caller)?;
    let new_name = command.name.as_str();
    if user.name == new_name {
        return Ok(Rename::Unchanged(user));
    }
    let event = UserEvent::UserRenamed {
        previous_name: user.name,
        new_name: new_name.to_owned(),
    };
    let renamed = User {
        name: new_name.to_owned(),
        version: user.version + 1,
        updated_at: now,
        ..user
    };
    Ok(Rename::Append(Change::leaving(renamed, event)))
}

impl Command for UpdateUserName {
    const NAME: &'static str = "UpdateUserName";
    type Output = Committed<User>;
    fn permitted(identity: &Identity) -> Result<(), Denied> {
        identity.may_change_some()
    }
}

impl Handler<UpdateUserName> for CommandHandlers {
    async fn handle(
        &self,
        command: UpdateUserName,
        caller: &Caller,
    ) -> Result<Committed<User>, CommandError> {
        let txn = self.begin().await?;
        let current = load_for_change(&txn, command.id, Turns::User).await?;
        match decide(current, &command, &caller.identity, domain::now())? {
            Rename::Append(change) => {
                let position = if in_one_statement(&txn) {
                    let values = row_values(&change.value);
                    append_with(&txn, RENAMED, values, &change, caller)
                        .await?
                        .context("the locked row was not renamed")?
                } else {
                    update(&txn, &change.value).await?;
                    append(&txn, &change, caller).await?
                };
                self.commit(txn, change.value, position).await
            }
            Rename::Unchanged(user) => {
                // The token of the user's latest event still reads this state.
                let position = events::latest_of(&txn, user.id)
                    .await?
                    .context("a live user has no events")?;
                Ok(Committed {
                    value: user,
                    position,
                })
            }
        }
    }
}

/// On PostgreSQL, the rename's row change, in the statement that appends its event.
const RENAMED: &str = "changed AS (\
    UPDATE users SET name = $2, version = $3, updated_at = $4 WHERE id = $1 RETURNING id)";

/// The renamed user's row, as `RENAMED`'s parameters.
fn row_values(user: &User) -> Vec<Value> {
    vec![
        user.id.as_uuid().into(),
        user.name.clone().into(),
        user.version.into(),
        user.updated_at.into(),
    ]
}

/// Writes the renamed user's name, version and time of change to its row (SQLite).
async fn update(txn: &DatabaseTransaction, user: &User) -> anyhow::Result<()> {
    let row = users::ActiveModel {
        id: Unchanged(user.id.as_uuid()),
        name: Set(user.name.clone()),
        version: Set(user.version),
        updated_at: Set(user.updated_at),
        ..Default::default()
    };
    row.update(txn).await.context("update user name")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::decide::fixtures::{ada, now};

    fn rename_to(name: &str, expected_version: Option<i32>) -> UpdateUserName {
        UpdateUserName {
            id: ada(1).id,
            name: UserName::parse(name).expect("a valid name"),
            expected_version,
        }
    }

    #[test]
    fn renaming_a_user_appends_user_renamed_at_the_next_version_and_renames_the_user() {
        let given = ada(3);
        let then = decide(
            Some(given.clone()),
            &rename_to("Ada King", None),
            &Identity::Developer,
            now(),
        );
        let renamed = User {
            name: "Ada King".to_owned(),
            version: 4,
            updated_at: now(),
            ..given
        };
        let event = UserEvent::UserRenamed {
            previous_name: "Ada Lovelace".to_owned(),
            new_name: "Ada King".to_owned(),
        };
        let change = Change {
            user_id: renamed.id,
            version: 4,
            occurred_at: now(),
            event,
            value: renamed,
        };
        assert_eq!(then.unwrap(), Rename::Append(change));
    }

    #[test]
    fn renaming_a_user_to_its_current_name_appends_nothing() {
        let then = decide(
            Some(ada(3)),
            &rename_to("Ada Lovelace", Some(3)),
            &Identity::Developer,
            now(),
        );
        assert_eq!(then.unwrap(), Rename::Unchanged(ada(3)));
    }

    #[test]
    fn renaming_a_user_to_its_current_name_still_checks_the_expected_version() {
        let then = decide(
            Some(ada(3)),
            &rename_to("Ada Lovelace", Some(2)),
            &Identity::Developer,
            now(),
        );
        assert!(
            matches!(then, Err(CommandError::VersionMismatch { actual: 3, .. })),
            "{then:?}"
        );
    }
}

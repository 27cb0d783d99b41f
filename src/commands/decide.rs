//! The pure half of the commands: `Change`, what a decision writes, and the rules every change
//! to an existing user obeys. Each command's `decide` (in its file) is built on these.
//!
//! A handler loads the state (inside its transaction, in its turn), calls `decide` with the
//! command and the values only it can supply (the time, a new id), and writes what was decided.
//! `decide` does no I/O, so every business rule can be tested without a database.

use chrono::{DateTime, Utc};

use crate::commands::CommandError;
use crate::domain::{Identity, User, UserId};
use crate::events::UserEvent;

/// What a command decided to write: one event of one user, and what the command answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Change<T> {
    pub user_id: UserId,
    /// The user's version after the event.
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    pub event: UserEvent,
    /// What the command answers once the event is committed: the user as the event leaves it
    /// (create, rename), or the id of the user it removed (delete).
    pub value: T,
}

impl Change<User> {
    /// `event`, which leaves the user as `user`: appended as its version, at its time of change.
    pub fn leaving(user: User, event: UserEvent) -> Self {
        Change {
            user_id: user.id,
            version: user.version,
            occurred_at: user.updated_at,
            event,
            value: user,
        }
    }
}

/// The rules every change to an existing user obeys, in this order: the caller may change this
/// user (else `Denied`, whether or not it exists), the user exists (else `UserNotFound`) and, if
/// the command names an expected version, is at it (else `VersionMismatch`, with the actual).
pub(super) fn existing(
    current: Option<User>,
    id: UserId,
    expected_version: Option<i32>,
    caller: &Identity,
) -> Result<User, CommandError> {
    caller.may_change(id)?;
    let user = current.ok_or(CommandError::UserNotFound(id))?;
    match expected_version {
        Some(expected) if expected != user.version => Err(CommandError::VersionMismatch {
            id,
            expected,
            actual: user.version,
        }),
        _ => Ok(user),
    }
}

/// The users and times the commands' tests are given.
#[cfg(test)]
pub(super) mod fixtures {
    use chrono::{DateTime, Utc};

    use crate::domain::{User, UserId};

    /// Ada as the write model holds her at `version`, last changed `earlier()`.
    pub fn ada(version: i32) -> User {
        User {
            id: UserId::from(uuid::Uuid::from_u128(0xada)),
            name: "Ada Lovelace".to_owned(),
            email: "ada@example.com".to_owned(),
            version,
            created_at: earlier(),
            updated_at: earlier(),
        }
    }

    /// When the given state was written.
    pub fn earlier() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time")
    }

    /// When the command is decided.
    pub fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 123_456_000).expect("a valid time")
    }
}

/// The rules shared by every change to an existing user, checked on each of them.
#[cfg(test)]
mod tests {
    use crate::commands::decide::fixtures::{ada, now};
    use crate::commands::update_user_name::{self, Rename};
    use crate::commands::{CommandError, DeleteUser, UpdateUserName, delete_user};
    use crate::domain::{Denied, Identity, Scopes, User, UserId, UserName};

    /// Given the user's state, when each change to an existing user (a rename to a new name and
    /// a delete) is decided with `expected_version`: the version it appends, or its error.
    fn when_changed(
        given: Option<User>,
        expected_version: Option<i32>,
    ) -> [(&'static str, Result<i32, CommandError>); 2] {
        when_changed_by(&Identity::Developer, given, expected_version)
    }

    /// `when_changed`, by `caller`.
    fn when_changed_by(
        caller: &Identity,
        given: Option<User>,
        expected_version: Option<i32>,
    ) -> [(&'static str, Result<i32, CommandError>); 2] {
        let id = ada(1).id;
        let name = UserName::parse("Ada King").expect("a valid name");
        let rename = UpdateUserName {
            id,
            name,
            expected_version,
        };
        let delete = DeleteUser {
            id,
            expected_version,
        };
        let renamed =
            update_user_name::decide(given.clone(), &rename, caller, now()).map(|decided| {
                match decided {
                    Rename::Append(change) => change.version,
                    Rename::Unchanged(_) => panic!("a rename to a new name appends an event"),
                }
            });
        let deleted =
            delete_user::decide(given, &delete, caller, now()).map(|change| change.version);
        [("rename", renamed), ("delete", deleted)]
    }

    #[test]
    fn changing_a_missing_user_is_not_found_whatever_version_is_expected() {
        for expected_version in [None, Some(1)] {
            for (command, then) in when_changed(None, expected_version) {
                assert!(
                    matches!(then, Err(CommandError::UserNotFound(id)) if id == ada(1).id),
                    "{command}: {then:?}"
                );
            }
        }
    }

    #[test]
    fn changing_a_user_at_the_expected_version_appends_the_next_version() {
        for (command, then) in when_changed(Some(ada(3)), Some(3)) {
            assert_eq!(then.ok(), Some(4), "{command}");
        }
    }

    #[test]
    fn changing_a_user_at_another_version_than_expected_conflicts_and_reports_the_actual_one() {
        for (command, then) in when_changed(Some(ada(3)), Some(2)) {
            assert!(
                matches!(
                    then,
                    Err(CommandError::VersionMismatch { id, expected: 2, actual: 3 }) if id == ada(1).id
                ),
                "{command}: {then:?}"
            );
        }
    }

    #[test]
    fn changing_a_user_without_an_expected_version_appends_the_next_version() {
        for (command, then) in when_changed(Some(ada(7)), None) {
            assert_eq!(then.ok(), Some(8), "{command}");
        }
    }

    /// A token that may change only its subject's own user.
    fn self_only(subject: UserId) -> Identity {
        Identity::Token {
            subject: subject.to_string(),
            scopes: Scopes {
                write_self: true,
                ..Scopes::default()
            },
        }
    }

    #[test]
    fn changing_another_user_with_write_self_is_forbidden_whether_or_not_that_user_exists() {
        let someone_else = self_only(UserId::new());
        for given in [None, Some(ada(3))] {
            for (command, then) in when_changed_by(&someone_else, given.clone(), Some(9)) {
                assert!(
                    matches!(then, Err(CommandError::Denied(Denied::Forbidden(_)))),
                    "{command} of {given:?}: {then:?}"
                );
            }
        }
    }

    #[test]
    fn changing_ones_own_user_with_write_self_appends_the_next_version() {
        for (command, then) in when_changed_by(&self_only(ada(1).id), Some(ada(3)), None) {
            assert_eq!(then.ok(), Some(4), "{command}");
        }
    }
}

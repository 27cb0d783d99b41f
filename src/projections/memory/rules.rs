//! The apply rules of the in-memory model, `users_view`'s: per user, versions strictly in order.

use crate::domain::{LogPosition, User, UserId};
use crate::events::{RecordedEvent, UserEvent};

/// What an event does to a user held at some version (or not held).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// At or below the held version: applied already.
    Skip,
    /// A create at version 1 of a user not held.
    Create,
    /// A rename at the held version + 1.
    Rename,
    /// A delete at the held version + 1.
    Delete,
    /// Anything else: the model misses an event of this user.
    Gap,
}

/// What `event` does to a user held at version `held`.
pub(super) fn step(held: Option<i32>, event: &RecordedEvent) -> Step {
    if held.is_some_and(|version| event.version <= version) {
        return Step::Skip;
    }
    let next = held.map(|v| v + 1);
    match (&event.event, held) {
        (UserEvent::UserCreated { .. }, None) if event.version == 1 => Step::Create,
        (UserEvent::UserRenamed { .. }, Some(_)) if Some(event.version) == next => Step::Rename,
        (UserEvent::UserDeleted, Some(_)) if Some(event.version) == next => Step::Delete,
        _ => Step::Gap,
    }
}

/// The user a create makes.
pub(super) fn created(event: &RecordedEvent) -> Option<User> {
    let UserEvent::UserCreated { name, email } = &event.event else {
        return None;
    };
    Some(User {
        id: event.user_id,
        name: name.clone(),
        email: email.clone(),
        version: event.version,
        created_at: event.occurred_at,
        updated_at: event.occurred_at,
    })
}

/// Applies a rename (what `step` called `Rename`) to `user`.
pub(super) fn rename(user: &mut User, event: &RecordedEvent) {
    if let UserEvent::UserRenamed { new_name, .. } = &event.event {
        user.name.clone_from(new_name);
        user.version = event.version;
        user.updated_at = event.occurred_at;
    }
}

/// Why an event cannot be applied: the model misses something and must reload.
#[derive(Debug, thiserror::Error)]
#[error(
    "event at {position} ({kind} of user {user} at version {version}) does not follow version {held:?}"
)]
pub(super) struct Gap {
    position: LogPosition,
    kind: &'static str,
    user: UserId,
    version: i32,
    held: Option<i32>,
}

impl Gap {
    pub(super) fn new(event: &RecordedEvent, held: Option<i32>) -> Self {
        Gap {
            position: event.position,
            kind: event.event.kind(),
            user: event.user_id,
            version: event.version,
            held,
        }
    }

    /// The position of the event that did not follow.
    pub(super) fn position(&self) -> LogPosition {
        self.position
    }
}

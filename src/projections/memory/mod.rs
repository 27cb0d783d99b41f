//! The in-memory read model: every user of `users_view`, kept in this instance's memory from the
//! log, exact at a known log position, for queries that need no database round trip.
//!
//! It is a projection like `users_view`: it starts from `users_view` and its checkpoint, read in
//! one snapshot, then applies every later event of the log in order (`follow.rs`), with the same
//! strict per-user versions: a create at version 1 of a user it does not hold, a change at the
//! version after the one it holds. An event at or below the held version was applied already and
//! is skipped; anything else (a gap) makes the model unusable: it never answers from state it
//! cannot vouch for, and queries read `users_view` instead. Past `max_users` users it gives up the
//! same way (and frees its memory). Its position is in a `watch`, so a query holding a
//! consistency token can wait for it.

mod follow;
mod order;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use tokio::sync::watch;

use crate::domain::{LogPosition, User, UserId};
use crate::events::{RecordedEvent, UserEvent};

use order::Order;

/// Where the model is: loading, exact at a position, or given up (until the instance restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryStatus {
    Loading,
    At(LogPosition),
    Unusable,
}

/// This instance's in-memory read model. Cheap to clone; `follow` is its task.
#[derive(Clone)]
pub struct MemoryModel {
    shared: Arc<Shared>,
}

struct Shared {
    users: RwLock<Users>,
    status: watch::Sender<MemoryStatus>,
    max_users: u64,
}

/// The users held, and their list order.
#[derive(Debug, Default)]
struct Users {
    by_id: HashMap<UserId, Held>,
    order: Order,
}

#[derive(Debug)]
struct Held {
    user: User,
    slot: usize,
}

/// Why an event cannot be applied: the model misses something and must not answer any more.
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

impl MemoryModel {
    /// An empty model, `Loading`, that will hold at most `max_users` users.
    pub fn new(max_users: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                users: RwLock::new(Users::default()),
                status: watch::Sender::new(MemoryStatus::Loading),
                max_users,
            }),
        }
    }

    pub fn status(&self) -> MemoryStatus {
        *self.shared.status.borrow()
    }

    /// Whether the model may answer now (at whatever position it is).
    pub fn is_usable(&self) -> bool {
        matches!(self.status(), MemoryStatus::At(_))
    }

    /// Returns once the model has applied the event at `token`; never, if it does not get there
    /// (unusable): the caller bounds the wait.
    pub async fn reached(&self, token: LogPosition) {
        let mut status = self.shared.status.subscribe();
        let reached = status
            .wait_for(|s| matches!(s, MemoryStatus::At(at) if *at >= token))
            .await
            .is_ok();
        if !reached {
            std::future::pending::<()>().await;
        }
    }

    /// The user with `id` (`Some(None)`: no such user), or `None` when the model cannot answer.
    pub fn user(&self, id: UserId) -> Option<Option<User>> {
        let users = self.read()?;
        Some(users.by_id.get(&id).map(|held| held.user.clone()))
    }

    /// At most `limit` users from rank `offset` on, in list order, and how many there are in
    /// all; `None` when the model cannot answer.
    pub fn page(&self, offset: u64, limit: usize) -> Option<(Vec<User>, u64)> {
        let users = self.read()?;
        let items = users
            .order
            .page(offset, limit)
            .filter_map(|id| users.by_id.get(&id).map(|held| held.user.clone()))
            .collect();
        Some((items, users.order.len()))
    }

    /// Every user held, in list order, and the position they are exact at (for tests and
    /// checks); `None` when the model cannot answer.
    pub fn snapshot(&self) -> Option<(LogPosition, Vec<User>)> {
        let users = self.read()?;
        let MemoryStatus::At(at) = self.status() else {
            return None;
        };
        let all = users
            .order
            .ids()
            .filter_map(|id| users.by_id.get(&id).map(|held| held.user.clone()))
            .collect();
        Some((at, all))
    }

    /// The users, if the model is usable (checked under the lock, which `give_up` takes).
    fn read(&self) -> Option<RwLockReadGuard<'_, Users>> {
        let users = self.shared.users.read().ok()?;
        self.is_usable().then_some(users)
    }

    /// Installs what was loaded from `users_view` at `checkpoint`, if within the bound.
    fn install(&self, loaded: Vec<User>, checkpoint: LogPosition) -> bool {
        if loaded.len() as u64 > self.shared.max_users {
            self.give_up(&format!(
                "users_view holds {} users, more than --read-model-max-users {}",
                loaded.len(),
                self.shared.max_users
            ));
            return false;
        }
        let Ok(mut users) = self.shared.users.write() else {
            self.give_up("a panic while the users were being changed");
            return false;
        };
        users.order = Order::from_ids(loaded.iter().map(|u| u.id));
        users.by_id = loaded
            .into_iter()
            .enumerate()
            .map(|(slot, user)| (user.id, Held { user, slot }))
            .collect();
        self.shared
            .status
            .send_replace(MemoryStatus::At(checkpoint));
        true
    }

    /// Applies events in log order (those at or before the model's position are skipped).
    /// `false` once the model has given up.
    fn apply(&self, events: &[Arc<RecordedEvent>]) -> bool {
        let MemoryStatus::At(mut at) = self.status() else {
            return false;
        };
        let Ok(mut users) = self.shared.users.write() else {
            self.give_up("a panic while the users were being changed");
            return false;
        };
        for event in events {
            if event.position <= at {
                continue;
            }
            if let Err(gap) = users.apply(event) {
                drop(users);
                self.give_up(&gap.to_string());
                return false;
            }
            at = event.position;
        }
        if users.order.len() > self.shared.max_users {
            drop(users);
            self.give_up(&format!(
                "more than --read-model-max-users {} users",
                self.shared.max_users
            ));
            return false;
        }
        self.shared.status.send_replace(MemoryStatus::At(at));
        true
    }

    /// Stops answering for good (this instance's queries read `users_view`) and frees the users.
    fn give_up(&self, why: &str) {
        let mut users = self.shared.users.write().unwrap_or_else(|e| e.into_inner());
        self.shared.status.send_replace(MemoryStatus::Unusable);
        *users = Users::default();
        tracing::error!(
            reason = why,
            "in-memory read model unusable; queries read users_view until this instance restarts"
        );
    }
}

impl Users {
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), Gap> {
        let held = self.by_id.get(&event.user_id).map(|h| h.user.version);
        if held.is_some_and(|version| event.version <= version) {
            return Ok(());
        }
        let gap = || Gap {
            position: event.position,
            kind: event.event.kind(),
            user: event.user_id,
            version: event.version,
            held,
        };
        match (&event.event, held) {
            (UserEvent::UserCreated { name, email }, None) if event.version == 1 => {
                let user = User {
                    id: event.user_id,
                    name: name.clone(),
                    email: email.clone(),
                    version: 1,
                    created_at: event.occurred_at,
                    updated_at: event.occurred_at,
                };
                let slot = self.order.push(user.id);
                self.by_id.insert(user.id, Held { user, slot });
            }
            (UserEvent::UserRenamed { new_name, .. }, Some(v)) if event.version == v + 1 => {
                let held = self.by_id.get_mut(&event.user_id).ok_or_else(gap)?;
                held.user.name.clone_from(new_name);
                held.user.version = event.version;
                held.user.updated_at = event.occurred_at;
            }
            (UserEvent::UserDeleted, Some(v)) if event.version == v + 1 => {
                let held = self.by_id.remove(&event.user_id).ok_or_else(gap)?;
                if self.order.remove(held.slot) {
                    self.compact();
                }
            }
            _ => return Err(gap()),
        }
        Ok(())
    }

    /// Rebuilds the order without its empty slots.
    fn compact(&mut self) {
        let order = Order::from_ids(self.order.ids().collect::<Vec<_>>());
        for (slot, id) in order.ids().enumerate() {
            if let Some(held) = self.by_id.get_mut(&id) {
                held.slot = slot;
            }
        }
        self.order = order;
    }
}

#[cfg(test)]
mod tests;

//! Every user, while they fit the bound: point reads, and pages in list order with their total.

use std::collections::HashMap;

use crate::domain::{User, UserId};
use crate::events::RecordedEvent;
use crate::projections::memory::kept::Kept;
use crate::projections::memory::order::Order;
use crate::projections::memory::rules::{self, Gap, Step};

/// The users held, and their list order.
#[derive(Debug, Default)]
pub(super) struct All {
    by_id: HashMap<UserId, Held>,
    pub(super) order: Order,
}

/// A user as held, and its slot in the list order.
#[derive(Debug)]
struct Held {
    kept: Kept,
    slot: usize,
}

impl Held {
    fn new(user: User, slot: usize) -> Self {
        Self {
            kept: Kept::new(user),
            slot,
        }
    }

    fn user(&self, id: UserId) -> User {
        self.kept.user(id)
    }
}

impl All {
    /// Room for `users` before it grows (a load knows how many it will read).
    pub(super) fn with_capacity(users: usize) -> Self {
        Self {
            by_id: HashMap::with_capacity(users),
            order: Order::default(),
        }
    }

    /// Puts `user` last in the list order (a load reads them in that order).
    pub(super) fn push(&mut self, user: User) {
        let slot = self.order.push(user.id);
        self.by_id.insert(user.id, Held::new(user, slot));
    }

    pub(super) fn len(&self) -> u64 {
        self.order.len()
    }

    /// How many users are held (as `len`; counted by the map, for checks).
    pub(super) fn held(&self) -> usize {
        self.by_id.len()
    }

    /// The user with `id`, if held.
    pub(super) fn get(&self, id: UserId) -> Option<User> {
        self.by_id.get(&id).map(|held| held.user(id))
    }

    /// The users in list order from rank `offset`, at most `limit`.
    pub(super) fn page(&self, offset: u64, limit: usize) -> impl Iterator<Item = User> + '_ {
        self.order.page(offset, limit).filter_map(|id| self.get(id))
    }

    /// Every user in list order.
    pub(super) fn every(&self) -> impl Iterator<Item = User> + '_ {
        self.order.ids().filter_map(|id| self.get(id))
    }

    /// Whether `event` would add a user.
    pub(super) fn adds(&self, event: &RecordedEvent) -> bool {
        let held = self.by_id.get(&event.user_id).map(|h| h.kept.version);
        rules::step(held, event) == Step::Create
    }

    pub(super) fn apply(&mut self, event: &RecordedEvent) -> Result<(), Gap> {
        let held = self.by_id.get(&event.user_id).map(|h| h.kept.version);
        match rules::step(held, event) {
            Step::Skip => {}
            Step::Create => {
                self.push(rules::created(event).ok_or_else(|| Gap::new(event, held))?);
            }
            Step::Rename => {
                let held = self.by_id.get_mut(&event.user_id);
                let held = held.ok_or_else(|| Gap::new(event, None))?;
                let mut user = held.user(event.user_id);
                rules::rename(&mut user, event);
                *held = Held::new(user, held.slot);
            }
            Step::Delete => {
                let gone = self.by_id.remove(&event.user_id);
                if self
                    .order
                    .remove(gone.ok_or_else(|| Gap::new(event, None))?.slot)
                {
                    self.compact();
                }
            }
            Step::Gap => return Err(Gap::new(event, held)),
        }
        Ok(())
    }

    /// The users in list order, emptying the model (to hand them to the hot set).
    pub(super) fn drain(&mut self) -> impl Iterator<Item = User> + '_ {
        let ids: Vec<UserId> = self.order.ids().collect();
        self.order = Order::default();
        ids.into_iter()
            .filter_map(|id| self.by_id.remove(&id).map(|held| held.user(id)))
    }

    /// Takes the user with `id` out of the map (for tests that need a user missing).
    #[cfg(test)]
    pub(super) fn take(&mut self, id: UserId) -> Option<User> {
        self.by_id.remove(&id).map(|held| held.user(id))
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

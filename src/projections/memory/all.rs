//! Every user, while they fit the bound: point reads, and pages in list order with their total.

use std::collections::HashMap;

use crate::domain::{User, UserId};
use crate::events::RecordedEvent;
use crate::projections::memory::order::Order;
use crate::projections::memory::rules::{self, Gap, Step};

/// The users held, and their list order.
#[derive(Debug, Default)]
pub(super) struct All {
    pub(super) by_id: HashMap<UserId, Held>,
    pub(super) order: Order,
}

#[derive(Debug)]
pub(super) struct Held {
    pub(super) user: User,
    slot: usize,
}

impl All {
    /// `loaded`, in list order.
    pub(super) fn new(loaded: Vec<User>) -> Self {
        let order = Order::from_ids(loaded.iter().map(|u| u.id));
        let by_id = loaded
            .into_iter()
            .enumerate()
            .map(|(slot, user)| (user.id, Held { user, slot }))
            .collect();
        Self { by_id, order }
    }

    pub(super) fn len(&self) -> u64 {
        self.order.len()
    }

    /// Whether `event` would add a user.
    pub(super) fn adds(&self, event: &RecordedEvent) -> bool {
        let held = self.by_id.get(&event.user_id).map(|h| h.user.version);
        rules::step(held, event) == Step::Create
    }

    pub(super) fn apply(&mut self, event: &RecordedEvent) -> Result<(), Gap> {
        let held = self.by_id.get(&event.user_id).map(|h| h.user.version);
        match rules::step(held, event) {
            Step::Skip => {}
            Step::Create => {
                let user = rules::created(event).ok_or_else(|| Gap::new(event, held))?;
                let slot = self.order.push(user.id);
                self.by_id.insert(user.id, Held { user, slot });
            }
            Step::Rename => {
                let held = self.by_id.get_mut(&event.user_id);
                rules::rename(&mut held.ok_or_else(|| Gap::new(event, None))?.user, event);
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
            .filter_map(|id| self.by_id.remove(&id).map(|held| held.user))
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

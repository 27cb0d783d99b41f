//! Every user, while they fit the bound: point reads, and pages in list order with their total.
//!
//! The users live in the list order's slots, each with its id; the index by id is a table of
//! slot numbers (4 bytes a user) hashed by the id in the slot, so an id is stored once.

use std::hash::BuildHasher as _;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::domain::{User, UserId};
use crate::events::RecordedEvent;
use crate::projections::memory::kept::Kept;
use crate::projections::memory::order::Order;
use crate::projections::memory::rules::{self, Gap, Step};

/// The users held, in list order, and where each is by id.
#[derive(Debug, Default)]
pub(super) struct All {
    order: Order<Held>,
    /// The slot of each user in `order`, hashed by the slot's id.
    slots: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// A user as held in its slot.
#[derive(Debug)]
struct Held {
    id: UserId,
    kept: Kept,
}

impl Held {
    fn new(user: User) -> Self {
        Self {
            id: user.id,
            kept: Kept::new(user),
        }
    }

    fn user(&self) -> User {
        self.kept.user(self.id)
    }
}

impl All {
    /// Room for `users` before it grows (a load knows how many it will read).
    pub(super) fn with_capacity(users: usize) -> Self {
        Self {
            order: Order::with_capacity(users),
            slots: HashTable::with_capacity(users),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Puts `user` last in the list order (a load reads them in that order).
    pub(super) fn push(&mut self, user: User) {
        let id = user.id;
        let slot = self.order.push(Held::new(user));
        self.index(id, slot);
    }

    /// Enters `slot`, which holds the user `id`, in the index.
    fn index(&mut self, id: UserId, slot: usize) {
        let slot = u32::try_from(slot).expect("fewer than 2^32 slots (bounded by max users)");
        let (order, hasher) = (&self.order, &self.hasher);
        self.slots.insert_unique(hasher.hash_one(id), slot, |s| {
            hasher.hash_one(id_in(order, *s))
        });
    }

    pub(super) fn len(&self) -> u64 {
        self.order.len()
    }

    /// How many users are held (as `len`; counted by the index, for checks).
    pub(super) fn held(&self) -> usize {
        self.slots.len()
    }

    /// The slot of the user with `id`, if held.
    fn slot(&self, id: UserId) -> Option<usize> {
        let order = &self.order;
        let found = self.slots.find(self.hasher.hash_one(id), |s| {
            order.get(*s as usize).is_some_and(|held| held.id == id)
        });
        found.map(|s| *s as usize)
    }

    fn held_of(&self, id: UserId) -> Option<&Held> {
        self.order.get(self.slot(id)?)
    }

    /// The user with `id`, if held.
    pub(super) fn get(&self, id: UserId) -> Option<User> {
        self.held_of(id).map(Held::user)
    }

    /// The users in list order from rank `offset`, at most `limit`.
    pub(super) fn page(&self, offset: u64, limit: usize) -> impl Iterator<Item = User> + '_ {
        self.order.page(offset, limit).map(Held::user)
    }

    /// Every user in list order.
    pub(super) fn every(&self) -> impl Iterator<Item = User> + '_ {
        self.order.items().map(Held::user)
    }

    /// Whether `event` would add a user.
    pub(super) fn adds(&self, event: &RecordedEvent) -> bool {
        let held = self.held_of(event.user_id).map(|h| h.kept.version);
        rules::step(held, event) == Step::Create
    }

    pub(super) fn apply(&mut self, event: &RecordedEvent) -> Result<(), Gap> {
        let slot = self.slot(event.user_id);
        let held = slot.and_then(|s| self.order.get(s)).map(|h| h.kept.version);
        match rules::step(held, event) {
            Step::Skip => {}
            Step::Create => {
                self.push(rules::created(event).ok_or_else(|| Gap::new(event, held))?);
            }
            Step::Rename => {
                let held = slot.and_then(|s| self.order.get_mut(s));
                let held = held.ok_or_else(|| Gap::new(event, None))?;
                let mut user = held.user();
                rules::rename(&mut user, event);
                held.kept = Kept::new(user);
            }
            Step::Delete => {
                self.remove(slot.ok_or_else(|| Gap::new(event, None))?);
            }
            Step::Gap => return Err(Gap::new(event, held)),
        }
        Ok(())
    }

    /// Empties `slot` and drops it from the index; squeezes the empty slots out when they
    /// outnumber the users.
    fn remove(&mut self, slot: usize) -> Option<Held> {
        let held = self.order.remove(slot)?;
        let hash = self.hasher.hash_one(held.id);
        if let Ok(entry) = self.slots.find_entry(hash, |s| *s as usize == slot) {
            entry.remove();
        }
        if self.order.wants_compacting() {
            self.compact();
        }
        Some(held)
    }

    /// The users in list order, emptying the model (to hand them to the hot set).
    pub(super) fn drain(&mut self) -> impl Iterator<Item = User> + use<> {
        let all = std::mem::take(self);
        all.order.into_items().map(|held| held.user())
    }

    /// Takes the user with `id` out (for tests that need a user missing).
    #[cfg(test)]
    pub(super) fn take(&mut self, id: UserId) -> Option<User> {
        self.remove(self.slot(id)?).as_ref().map(Held::user)
    }

    /// Renumbers the slots without the empty ones, and the index with them.
    fn compact(&mut self) {
        self.order = std::mem::take(&mut self.order).compacted();
        self.slots.clear();
        // Compacted, the order has a full slot for each user, numbered from 0.
        for slot in 0..self.order.len() as usize {
            if let Some(id) = self.order.get(slot).map(|held| held.id) {
                self.index(id, slot);
            }
        }
    }
}

/// The id in `slot` of `order`, to rehash the index when it grows (every indexed slot is full).
fn id_in(order: &Order<Held>, slot: u32) -> UserId {
    order
        .get(slot as usize)
        .map(|held| held.id)
        .expect("the index names full slots only")
}

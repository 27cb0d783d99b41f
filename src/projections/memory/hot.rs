//! Past the bound: the hottest users only, and the recent events that let a row read from
//! `users_view` be brought up to the model's position before it is cached.
//!
//! The hot set is a `quick_cache` (S3-FIFO: a user read once is evicted before one read again)
//! of at most `max_users` users, each exact at the model's position: it follows every event of a
//! user it holds with the strict rules, and holds nothing of the others. A user it misses is read
//! from `users_view` with that table's checkpoint in one snapshot (`read_through.rs`) and cached
//! only when the row is provably not older than the model: read at or past the model's position,
//! or behind it by events the ring of recent events still holds, replayed onto it.

use std::collections::VecDeque;
use std::sync::Arc;

use quick_cache::unsync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, UnitWeighter};

use crate::domain::{LogPosition, User, UserId};
use crate::events::RecordedEvent;
use crate::projections::memory::kept::Kept;
use crate::projections::memory::rules::{self, Gap, Step};

/// The share of the bound kept as hashes of users evicted lately, so one that comes back soon
/// is known as hot rather than new. Each takes a slot as large as a user's: quick_cache's default
/// (half the bound) costs more memory than it buys here.
const GHOSTS: f64 = 0.1;

/// The hot users, and the events the model passed recently.
pub(super) struct Hot {
    cache: Cache<UserId, Kept>,
    recent: Recent,
}

/// The last events the model passed, oldest first: every event after `floor`, up to the model's
/// position.
struct Recent {
    events: VecDeque<Arc<RecordedEvent>>,
    capacity: usize,
    floor: LogPosition,
}

impl Hot {
    /// An empty hot set of at most `max_users` users, at position `at`, remembering the last
    /// `recent` events.
    pub(super) fn new(max_users: u64, recent: usize, at: LogPosition) -> Self {
        let items = usize::try_from(max_users).unwrap_or(usize::MAX);
        let options = OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(max_users)
            .ghost_allocation(GHOSTS)
            .build();
        let cache = match options {
            Ok(options) => Cache::with_options(
                options,
                UnitWeighter,
                DefaultHashBuilder::default(),
                DefaultLifecycle::default(),
            ),
            Err(_) => Cache::new(items),
        };
        Self {
            cache,
            recent: Recent {
                events: VecDeque::with_capacity(recent.min(1024)),
                capacity: recent,
                floor: at,
            },
        }
    }

    /// How many users are held.
    pub(super) fn len(&self) -> usize {
        self.cache.len()
    }

    /// The user with `id`, if held (and marks it as used).
    pub(super) fn get(&self, id: UserId) -> Option<User> {
        self.cache.get(&id).map(|kept| kept.user(id))
    }

    /// Holds `user`, exact at the model's position (when it switches from holding every user).
    pub(super) fn hold(&mut self, user: User) {
        self.cache.insert(user.id, Kept::new(user));
    }

    /// Applies an event after the model's position: a create adds its user, an event of a held
    /// user applies with the strict rules, an event of a user not held changes nothing.
    pub(super) fn apply(&mut self, event: &Arc<RecordedEvent>) -> Result<(), Gap> {
        self.recent.push(event);
        let held = self.cache.peek(&event.user_id).map(|u| u.version);
        match (held, rules::step(held, event)) {
            (_, Step::Skip) | (None, Step::Rename | Step::Delete | Step::Gap) => {}
            (None, Step::Create) => {
                let user = rules::created(event).ok_or_else(|| Gap::new(event, None))?;
                self.hold(user);
            }
            (Some(_), Step::Rename) => {
                if let Some(mut kept) = self.cache.peek_mut(&event.user_id) {
                    let mut user = kept.user(event.user_id);
                    rules::rename(&mut user, event);
                    *kept = Kept::new(user);
                }
            }
            (Some(_), Step::Delete) => {
                self.cache.remove(&event.user_id);
            }
            (Some(_), Step::Create | Step::Gap) => return Err(Gap::new(event, held)),
        }
        Ok(())
    }

    /// Caches `row`, read from `users_view` when its checkpoint was `read_at`, if it is not older
    /// than the model at `at`: as it is when `read_at >= at` (the events up to `read_at` that the
    /// model will still pass are at or below its version, so skipped), else with the events of
    /// its user in `(read_at, at]` replayed onto it, if the ring still holds them all. Never
    /// replaces a held user of a later version. Whether it cached it.
    pub(super) fn offer(&mut self, row: User, read_at: LogPosition, at: LogPosition) -> bool {
        let user = if read_at >= at {
            Some(row)
        } else {
            self.recent.replay(row, read_at)
        };
        let Some(user) = user else { return false };
        let held = self.cache.peek(&user.id).map(|u| u.version);
        if held.is_some_and(|version| version >= user.version) {
            return false;
        }
        self.hold(user);
        true
    }
}

impl Recent {
    fn push(&mut self, event: &Arc<RecordedEvent>) {
        if self.capacity == 0 {
            self.floor = event.position;
            return;
        }
        if self.events.len() == self.capacity
            && let Some(oldest) = self.events.pop_front()
        {
            self.floor = oldest.position;
        }
        self.events.push_back(Arc::clone(event));
    }

    /// `row`, read at `read_at`, with its user's later events applied: `None` if the ring no
    /// longer holds every event after `read_at`, or the user was deleted since, or an event does
    /// not follow (the row cannot be vouched for).
    fn replay(&self, mut row: User, read_at: LogPosition) -> Option<User> {
        if read_at < self.floor {
            return None;
        }
        let first = self.events.partition_point(|e| e.position <= read_at);
        let id = row.id;
        let later = self.events.range(first..).filter(|e| e.user_id == id);
        for event in later {
            match rules::step(Some(row.version), event) {
                Step::Skip => {}
                Step::Rename => rules::rename(&mut row, event),
                Step::Delete | Step::Create | Step::Gap => return None,
            }
        }
        Some(row)
    }
}

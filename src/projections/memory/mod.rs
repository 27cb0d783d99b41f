//! The in-memory read model: the users of `users_view`, kept in this instance's memory from the
//! log, exact at a known log position, for queries that need no database round trip.
//!
//! It is a projection like `users_view`: it starts from `users_view` and its checkpoint, read in
//! one snapshot, then applies every later event of the log in order (`follow.rs`), with the same
//! strict per-user versions (`rules.rs`). While the users fit `max_users` it holds them all
//! (`all.rs`) and answers point reads and pages with their total. Past the bound (at load or while
//! following) it keeps only the hottest `max_users` (`hot.rs`): point reads of those, while pages
//! and misses read `users_view`, and a row read on a miss joins the hot set only when it is
//! provably not older than the model (`read_through.rs`). An event that does not follow (a gap)
//! makes it drop its users and reload; it never answers from state it cannot vouch for. Its
//! position is in a `watch`, so a query holding a consistency token can wait for it.

mod all;
mod follow;
mod hot;
mod kept;
mod order;
mod read_through;
mod rules;

use std::sync::{Arc, RwLock, RwLockReadGuard};

use tokio::sync::watch;

use crate::domain::{LogPosition, User, UserId};
use crate::events::RecordedEvent;
use crate::signals::Wakeup;

use all::All;
use hot::Hot;
use rules::Gap;

/// Events remembered past the bound, so a row read behind the model can be brought up to it.
const RECENT_EVENTS: usize = 4096;

/// Where the model is: loading (at start or reloading after a gap), exact at a position, or
/// given up after reloads that kept failing at the same event (until the instance restarts).
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
    /// The status changes only under this lock's write guard, so a holder of either guard sees
    /// the users exact at the status' position.
    users: RwLock<Users>,
    status: watch::Sender<MemoryStatus>,
    /// Woken when a read waits for a position the model has not reached (see `wanted`).
    wanted: Wakeup,
    max_users: u64,
    recent_events: usize,
}

/// Every user, or past the bound the hottest ones.
enum Users {
    All(All),
    Hot(Hot),
}

/// What a load read from `users_view`: every user in list order, or past the bound nothing.
enum Loaded {
    All(All),
    PastBound { users: u64 },
}

/// Why the model dropped its users and must reload.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error(transparent)]
    Gap(#[from] Gap),
    #[error("a panic while the users were being changed")]
    Poisoned,
}

impl MemoryModel {
    /// An empty model, `Loading`, that will hold at most `max_users` users.
    pub fn new(max_users: u64) -> Self {
        Self::with_recent(max_users, RECENT_EVENTS)
    }

    fn with_recent(max_users: u64, recent_events: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                users: RwLock::new(Users::All(All::default())),
                status: watch::Sender::new(MemoryStatus::Loading),
                wanted: Wakeup::default(),
                max_users,
                recent_events,
            }),
        }
    }

    /// Woken whenever a read starts waiting for a position the model has not reached: what feeds
    /// the model may read the log at once then, instead of at its usual pace.
    pub fn wanted(&self) -> Wakeup {
        self.shared.wanted.clone()
    }

    pub fn status(&self) -> MemoryStatus {
        *self.shared.status.borrow()
    }

    /// Whether the model may answer now (at whatever position it is).
    pub fn is_usable(&self) -> bool {
        matches!(self.status(), MemoryStatus::At(_))
    }

    /// Returns once the model has applied the event at `token`; never, if it does not get there
    /// (given up): the caller bounds the wait. Each time the model is seen short of `token`,
    /// `wanted` is woken.
    pub async fn reached(&self, token: LogPosition) {
        let mut status = self.shared.status.subscribe();
        loop {
            if matches!(*status.borrow_and_update(), MemoryStatus::At(at) if at >= token) {
                return;
            }
            self.shared.wanted.wake();
            if status.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The user with `id` (`Some(None)`: no such user), or `None` when the model cannot answer:
    /// not usable, or past its bound and not holding this user.
    pub fn user(&self, id: UserId) -> Option<Option<User>> {
        match &*self.read()? {
            Users::All(all) => Some(all.get(id)),
            Users::Hot(hot) => hot.get(id).map(Some),
        }
    }

    /// At most `limit` users from rank `offset` on, in list order, and how many there are in
    /// all; `None` when the model cannot answer (not usable, or past its bound).
    pub fn page(&self, offset: u64, limit: usize) -> Option<(Vec<User>, u64)> {
        let users = self.read()?;
        let Users::All(all) = &*users else {
            return None;
        };
        Some((all.page(offset, limit).collect(), all.len()))
    }

    /// Every user, in list order, and the position they are exact at (for tests and checks);
    /// `None` when the model cannot answer or holds only the hottest users.
    pub fn snapshot(&self) -> Option<(LogPosition, Vec<User>)> {
        let users = self.read()?;
        let (MemoryStatus::At(at), Users::All(all)) = (self.status(), &*users) else {
            return None;
        };
        Some((at, all.every().collect()))
    }

    /// How many users the model holds in memory now.
    pub fn held(&self) -> usize {
        match &*self.shared.users.read().unwrap_or_else(|e| e.into_inner()) {
            Users::All(all) => all.held(),
            Users::Hot(hot) => hot.len(),
        }
    }

    /// Whether the model holds every user (`false` past its bound: only the hottest ones).
    pub fn holds_every_user(&self) -> bool {
        let users = self.shared.users.read().unwrap_or_else(|e| e.into_inner());
        matches!(&*users, Users::All(_))
    }

    /// The users, if the model is usable (checked under the lock, which status changes take).
    fn read(&self) -> Option<RwLockReadGuard<'_, Users>> {
        let users = self.shared.users.read().ok()?;
        self.is_usable().then_some(users)
    }

    /// Installs what was loaded from `users_view` at `checkpoint`, replacing whatever was held
    /// (even after a panic while it was being changed).
    fn install(&self, loaded: Loaded, checkpoint: LogPosition) {
        let fresh = match loaded {
            Loaded::All(all) => Users::All(all),
            Loaded::PastBound { users } => {
                self.say_past_bound(users);
                Users::Hot(Hot::new(
                    self.shared.max_users,
                    self.shared.recent_events,
                    checkpoint,
                ))
            }
        };
        let mut users = self.shared.users.write().unwrap_or_else(|e| e.into_inner());
        *users = fresh;
        self.shared.users.clear_poison();
        self.shared
            .status
            .send_replace(MemoryStatus::At(checkpoint));
    }

    /// Applies events in log order (those at or before the model's position are skipped). On a
    /// gap the model drops its users and is `Loading` again, for `follow` to reload it.
    fn apply(&self, events: &[Arc<RecordedEvent>]) -> Result<(), Lost> {
        let MemoryStatus::At(mut at) = self.status() else {
            return Ok(());
        };
        let mut users = match self.shared.users.write() {
            Ok(users) => users,
            Err(poisoned) => return Err(self.lose(&mut poisoned.into_inner(), Lost::Poisoned)),
        };
        for event in events {
            if event.position <= at {
                continue;
            }
            if let Users::All(all) = &mut *users
                && all.len() >= self.shared.max_users
                && all.adds(event)
            {
                let mut hot = Hot::new(self.shared.max_users, self.shared.recent_events, at);
                for user in all.drain() {
                    hot.hold(user);
                }
                *users = Users::Hot(hot);
                self.say_past_bound(self.shared.max_users + 1);
            }
            let applied = match &mut *users {
                Users::All(all) => all.apply(event),
                Users::Hot(hot) => hot.apply(event),
            };
            if let Err(gap) = applied {
                return Err(self.lose(&mut users, Lost::Gap(gap)));
            }
            at = event.position;
        }
        self.shared.status.send_replace(MemoryStatus::At(at));
        Ok(())
    }

    /// Caches `row`, read from `users_view` when its checkpoint was `read_at`, if the model is
    /// past its bound and the row is provably not older than the model (`Hot::offer`).
    fn offer(&self, row: &User, read_at: LogPosition) -> bool {
        let Ok(mut users) = self.shared.users.write() else {
            return false;
        };
        let (MemoryStatus::At(at), Users::Hot(hot)) = (self.status(), &mut *users) else {
            return false;
        };
        hot.offer(row.clone(), read_at, at)
    }

    /// Drops the users after a failure, under the write guard `users`: `Loading` until
    /// `follow` reloads.
    fn lose(&self, users: &mut Users, lost: Lost) -> Lost {
        *users = Users::All(All::default());
        self.shared.status.send_replace(MemoryStatus::Loading);
        tracing::warn!(reason = %lost, "in-memory read model dropped its users; reloading");
        lost
    }

    /// Stops answering for good (this instance's queries read `users_view`) and frees the users.
    fn give_up(&self, why: &str) {
        let mut users = self.shared.users.write().unwrap_or_else(|e| e.into_inner());
        *users = Users::All(All::default());
        self.shared.status.send_replace(MemoryStatus::Unusable);
        tracing::error!(
            reason = why,
            "in-memory read model unusable; queries read users_view until this instance restarts"
        );
    }

    fn say_past_bound(&self, users: u64) {
        tracing::info!(
            users,
            max_users = self.shared.max_users,
            "in-memory read model past --read-model-max-users: it keeps the hottest users, and \
             pages and other users read users_view"
        );
    }
}

#[cfg(test)]
mod tests;

//! In-process signals between the two sides: "the log grew" (`Wakeup`) and "the read model
//! moved" (`ProjectionProgress`). Both sides take them from here, so neither imports the other;
//! `notify` carries them between instances on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::LogPosition;

/// A wake-up any number of tasks can wait for; none is lost between two waits.
#[derive(Clone, Debug)]
pub struct Wakeup(Arc<watch::Sender<u64>>);

impl Default for Wakeup {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Wakeup {
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A waiter: `changed().await` returns once per burst of wakes after the last one seen.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The checkpoint of `users_view` as it advances: set by this instance's projector when it leads,
/// and otherwise by notifications and polls of the checkpoint the leader stores. Readers holding
/// a consistency token wait on it.
#[derive(Debug)]
pub struct ProjectionProgress {
    checkpoint: watch::Sender<LogPosition>,
}

impl Default for ProjectionProgress {
    fn default() -> Self {
        Self {
            checkpoint: watch::Sender::new(LogPosition::START),
        }
    }
}

impl ProjectionProgress {
    /// Waits until the event at `position` is applied. `false` when `timeout` ran out first.
    pub async fn wait_past(&self, position: LogPosition, timeout: Duration) -> bool {
        let mut checkpoint = self.checkpoint.subscribe();
        let reached = checkpoint.wait_for(|applied| *applied >= position);
        matches!(tokio::time::timeout(timeout, reached).await, Ok(Ok(_)))
    }

    /// How far the read model is known to have got.
    pub fn applied(&self) -> LogPosition {
        *self.checkpoint.borrow()
    }

    /// Records that the read model reached `position` (never moves backwards).
    pub(crate) fn advance(&self, position: LogPosition) {
        self.checkpoint.send_if_modified(|current| {
            let newer = position > *current;
            if newer {
                *current = position;
            }
            newer
        });
    }
}

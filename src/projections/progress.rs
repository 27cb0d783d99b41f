//! `ProjectionProgress`: how far the read model has caught up, shared by the projector and the readers.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::LogPosition;

/// The projector's checkpoint as it advances, and its last failure if it is failing now.
/// Readers holding a consistency token wait on it.
#[derive(Debug)]
pub struct ProjectionProgress {
    checkpoint: watch::Sender<LogPosition>,
    failure: Mutex<Option<String>>,
}

impl Default for ProjectionProgress {
    fn default() -> Self {
        Self {
            checkpoint: watch::Sender::new(LogPosition::START),
            failure: Mutex::new(None),
        }
    }
}

impl ProjectionProgress {
    /// The position of the last event applied to the read model.
    pub fn checkpoint(&self) -> LogPosition {
        *self.checkpoint.borrow()
    }

    /// Waits until the event at `position` is applied. `false` when `timeout` ran out first.
    pub async fn wait_past(&self, position: LogPosition, timeout: Duration) -> bool {
        let mut checkpoint = self.checkpoint.subscribe();
        let reached = checkpoint.wait_for(|applied| *applied >= position);
        matches!(tokio::time::timeout(timeout, reached).await, Ok(Ok(_)))
    }

    /// Why the projector is failing, if it is.
    pub fn failure(&self) -> Option<String> {
        self.lock_failure().clone()
    }

    pub(super) fn advance(&self, position: LogPosition) {
        self.checkpoint.send_if_modified(|current| {
            let newer = position > *current;
            if newer {
                *current = position;
            }
            newer
        });
    }

    pub(super) fn fail(&self, reason: String) {
        *self.lock_failure() = Some(reason);
    }

    pub(super) fn clear_failure(&self) {
        self.lock_failure().take();
    }

    fn lock_failure(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A panic while holding this lock cannot leave the Option half-written.
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

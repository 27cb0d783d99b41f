//! `ProjectionProgress`: how far the read model has caught up, as this instance knows it.

use std::time::Duration;

use tokio::sync::watch;

use crate::domain::LogPosition;

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

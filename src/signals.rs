//! In-process signals between the two sides: "the log grew" (`Wakeup`) and "the read model
//! moved" (`ProjectionProgress`). Both sides take them from here, so neither imports the other;
//! `notify` carries them between instances on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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

    /// Until `stop`: wakes `to` after each burst of wakes of `self` from now on (a task hop, no
    /// I/O). Subscribed before it is first polled, so no wake in between is lost.
    pub fn relay(&self, to: Wakeup, stop: CancellationToken) -> impl Future<Output = ()> + use<> {
        let mut woken = self.subscribe();
        async move {
            loop {
                tokio::select! {
                    changed = woken.changed() => if changed.is_err() { break },
                    () = stop.cancelled() => break,
                }
                to.wake();
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A relay passes every burst on, and stops with `stop`.
    #[tokio::test]
    async fn a_relay_passes_each_burst_on_until_stopped() {
        let (from, to, stop) = (
            Wakeup::default(),
            Wakeup::default(),
            CancellationToken::new(),
        );
        let mut woken = to.subscribe();
        let relay = tokio::spawn(from.relay(to.clone(), stop.clone()));
        for _ in 0..3 {
            from.wake();
            tokio::time::timeout(Duration::from_secs(5), woken.changed())
                .await
                .expect("passed on")
                .unwrap();
        }
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .expect("stopped")
            .unwrap();
        from.wake();
        assert!(
            !woken.has_changed().unwrap(),
            "nothing passed on after stop"
        );
    }
}

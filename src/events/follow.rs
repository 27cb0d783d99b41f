//! `Pace`: how a follower of the log (the projector, the live tail) waits between reads.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::LogPosition;
use crate::events::unread_after;
use crate::signals::Wakeup;

/// A follower reads until it is caught up, then waits for the log to grow (a wake-up) or for its
/// poll, the safety net for lost wake-ups. Events held back behind an older running transaction
/// are the exception: that transaction may end without appending, and then nothing announces
/// it, so the follower looks again soon: 10 ms, doubling up to its poll but never past 1 s, back
/// to 10 ms once it moves on. The cap keeps a follower with a long poll from sleeping for many
/// seconds after the transaction that held it back ended (a look is one cheap query, and only
/// while events are held back).
#[derive(Debug)]
pub struct Pace {
    woken: watch::Receiver<u64>,
    poll: Duration,
    next_recheck: Duration,
    most_recheck: Duration,
}

impl Pace {
    const FIRST_RECHECK: Duration = Duration::from_millis(10);
    const MOST_RECHECK: Duration = Duration::from_secs(1);

    /// Wakes on `appended`, and looks at least every `poll`.
    pub fn new(appended: &Wakeup, poll: Duration) -> Self {
        Self {
            woken: appended.subscribe(),
            poll,
            next_recheck: Self::FIRST_RECHECK,
            most_recheck: poll.min(Self::MOST_RECHECK),
        }
    }

    /// The follower read past where it was: a later hold-back starts with a short look again.
    pub fn moved_on(&mut self) {
        self.next_recheck = Self::FIRST_RECHECK;
    }

    /// The follower has read everything up to `cursor` it may: how long until it looks again.
    /// Nothing when the log grew while it read (a wake-up waits): it reads again at once, without
    /// asking first whether events are held back. Under a steady write load that question was
    /// a round trip in every read's cycle, and each event waited for it before it was read; the
    /// question is asked again when the wake-ups stop, so held-back events are still found.
    pub async fn caught_up(&mut self, db: &impl ConnectionTrait, cursor: LogPosition) -> Duration {
        if self.woken.has_changed().unwrap_or(false) {
            return Duration::ZERO;
        }
        match unread_after(db, cursor).await {
            Ok(true) => {
                let delay = self.next_recheck.min(self.most_recheck);
                self.next_recheck = (self.next_recheck * 2).min(self.most_recheck);
                delay
            }
            Ok(false) | Err(_) => {
                self.moved_on();
                self.poll
            }
        }
    }

    /// Waits `pause`, or less if the log grows or `stop` is cancelled.
    pub async fn wait(&mut self, pause: Duration, stop: &CancellationToken) {
        tokio::select! {
            _ = self.woken.changed() => {}
            () = tokio::time::sleep(pause) => {}
            () = stop.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Database;

    use super::*;

    #[tokio::test]
    async fn a_follower_woken_while_it_read_reads_again_at_once_and_then_waits() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let appended = Wakeup::default();
        let poll = Duration::from_secs(5);
        let mut pace = Pace::new(&appended, poll);
        let stop = CancellationToken::new();
        assert_eq!(pace.caught_up(&db, LogPosition::START).await, poll);

        // Commits during the read: no pause, and the wait that follows returns at once.
        appended.wake();
        appended.wake();
        let pause = pace.caught_up(&db, LogPosition::START).await;
        assert_eq!(pause, Duration::ZERO);
        tokio::time::timeout(Duration::from_secs(1), pace.wait(pause, &stop))
            .await
            .expect("no wait");
        // Both wakes were one burst, seen: the next look waits for its poll again.
        assert_eq!(pace.caught_up(&db, LogPosition::START).await, poll);
    }
}

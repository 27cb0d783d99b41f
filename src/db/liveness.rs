//! Which pooled PostgreSQL connections are tested (pinged) before a request gets one: any idle for
//! a while, and any that has been idle since a statement last failed, so a connection that died
//! unseen with its database (idle through an outage) is replaced, not handed to a request.
//! (SQLite's have no server to lose: they are tested only after a long idle.)

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A connection idle this long is tested before use whatever happened meanwhile (a server may
/// have ended it quietly); a busy one is not, unless a statement has failed since it went idle:
/// testing every checkout was a round trip more on every statement.
pub(super) const TEST_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// When a statement last failed (nanoseconds after `epoch()`, plus one; 0: never). One for the
/// process: a failure on one database makes the other's idle connections be tested once too, a
/// round trip each, which is cheap next to a request failing on a dead connection.
static LAST_FAILURE: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// Notes that a statement failed. sea-orm says only that it failed, not why: it may be the
/// database's answer (a taken email's unique index, a lock limit), not a lost connection. Then
/// each connection idle since is tested once, a round trip: at worst, a load of failing
/// statements makes every checkout test its connection, as sqlx's default does.
pub(super) fn statement_failed() {
    let now = since_epoch(Instant::now()).saturating_add(1);
    LAST_FAILURE.fetch_max(now, Ordering::Relaxed);
}

/// Whether a connection idle for `idle_for` must be tested before it is handed out.
pub(super) fn must_test(idle_for: Duration) -> bool {
    if idle_for >= TEST_IF_IDLE_FOR {
        return true;
    }
    let failed = LAST_FAILURE.load(Ordering::Relaxed);
    if failed == 0 {
        return false;
    }
    let idle_since = Instant::now().checked_sub(idle_for).unwrap_or_else(epoch);
    since_epoch(idle_since) < failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_idle_since_a_failure_are_tested_and_later_ones_are_not() {
        assert!(must_test(TEST_IF_IDLE_FOR), "long idle");
        // Idle since 50 ms ago, then a statement fails: tested.
        let idle_for = Duration::from_millis(50);
        statement_failed();
        assert!(must_test(idle_for));
        // Returned to the pool after the failure (idle for less than the time since): not tested.
        std::thread::sleep(Duration::from_millis(20));
        assert!(!must_test(Duration::from_millis(5)));
    }
}

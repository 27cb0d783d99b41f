//! Waiting, bounded, for something the test cannot be told about.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Asks `probe` every 50 ms until it answers `Ok`, failing with `what` and its last `Err` once
/// `within` has passed.
pub async fn eventually<T, E: Display>(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                started.elapsed() < within,
                "waited {within:?} for {what}: {last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

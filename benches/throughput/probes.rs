//! What a write load does to reads: the projection's lag, sampled every 10 ms, and the latency
//! of a read that carries its write's consistency token against a plain read at the same time.

use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use crate::load::{CREATE_MUTATION, post, random_user, user_body};
use crate::postgres::projection_lag;

/// Lag samples: events behind, and the oldest unapplied event's wait in ms; and how long after
/// each sample's checkpoint read its log read came, in µs.
#[derive(Default)]
pub struct Lag {
    pub events: Vec<u32>,
    pub ms: Vec<u32>,
    pub gap_us: Vec<u32>,
}

/// Samples the projection's lag every 10 ms until `phase` has passed since `started`.
pub async fn sample_lag(
    write: &DatabaseConnection,
    read: &DatabaseConnection,
    started: Instant,
    phase: Duration,
) -> anyhow::Result<Lag> {
    let mut lag = Lag::default();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < phase {
        tick.tick().await;
        let (events, ms, gap_ms) = projection_lag(write, read).await?;
        lag.events.push(events as u32);
        lag.ms.push(ms.max(0.0).round() as u32);
        lag.gap_us.push((gap_ms.max(0.0) * 1e3).round() as u32);
    }
    lag.events.sort_unstable();
    lag.ms.sort_unstable();
    lag.gap_us.sort_unstable();
    Ok(lag)
}

/// One client that creates a user, then at once reads it with the create's consistency token,
/// again and again until `phase` has passed; returns the reads' latencies in µs, sorted.
pub async fn token_reads(
    client: &reqwest::Client,
    address: &str,
    started: Instant,
    phase: Duration,
) -> Vec<u32> {
    let url = format!("{address}/graphql");
    until(started, phase, async |i| {
        let body = serde_json::json!({
            "query": CREATE_MUTATION,
            "variables": { "input": { "name": "Token", "email": format!("token-{i}@example.com") } },
        });
        let created: serde_json::Value =
            serde_json::from_str(&post(client, &url, body.to_string()).await).expect("JSON");
        let payload = &created["data"]["createUser"];
        let read = serde_json::json!({
            "query": "query($id: ID!, $token: String) { user(id: $id, consistencyToken: $token) { id name email version createdAt updatedAt } }",
            "variables": { "id": payload["user"]["id"], "token": payload["consistencyToken"] },
        });
        let sent = Instant::now();
        let answer = post(client, &url, read.to_string()).await;
        assert!(answer.contains("\"Token\""), "read its own write: {answer}");
        sent.elapsed()
    })
    .await
}

/// One client reading random seeded users without a token, one after another, until `phase`
/// has passed; returns the latencies in µs, sorted.
pub async fn plain_reads(
    client: &reqwest::Client,
    address: &str,
    started: Instant,
    phase: Duration,
) -> Vec<u32> {
    let url = format!("{address}/graphql");
    until(started, phase, async |i| {
        let sent = Instant::now();
        post(client, &url, user_body(&random_user(usize::MAX, i, 7))).await;
        sent.elapsed()
    })
    .await
}

/// Runs `step(1)`, `step(2)`, … until `phase` has passed since `started`; returns the times
/// they measured, in µs, sorted.
async fn until(
    started: Instant,
    phase: Duration,
    mut step: impl AsyncFnMut(u64) -> Duration,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    let mut i = 0;
    while started.elapsed() < phase {
        i += 1;
        latencies.push(step(i).await.as_micros() as u32);
    }
    latencies.sort_unstable();
    latencies
}

//! What a write load does to reads: the projection's lag, sampled every 10 ms two ways, and the
//! latency of a read that carries its write's consistency token against plain reads at the same
//! time.

use std::time::{Duration, Instant};

use cqrs_users::domain::LogPosition;
use cqrs_users::events;
use cqrs_users::notify::projection_position;
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::PgListener;

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

/// Samples, every 10 ms until `phase` has passed since `started`, how long the log's newest
/// committed event takes to reach `users_view`: the clock starts before the log's head is read,
/// and stops when a checkpoint at or past it is announced (the checkpoint's trigger notifies on
/// `cqrs_projection` at its commit). µs, sorted.
///
/// This is the lag from the log's side: an event is in the log from its commit. `sample_lag`
/// counts from the command's stamp, taken before the command waited for a connection and ran
/// its statement, so it adds the command's own latency to the projector's.
///
/// It runs on a thread and runtime of its own, with connections of its own: on the load
/// generator's runtime each step would also wait behind the 32 clients' tasks (the other
/// sampler's second query waited 10 to 15 ms at p99 for its turn).
pub fn sample_projected(
    write_url: String,
    read_url: String,
    started: Instant,
    phase: Duration,
) -> std::thread::JoinHandle<anyhow::Result<Vec<u32>>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let write = sea_orm::Database::connect(&write_url).await?;
            projected(&write, &read_url, started, phase).await
        })
    })
}

async fn projected(
    write: &DatabaseConnection,
    read_url: &str,
    started: Instant,
    phase: Duration,
) -> anyhow::Result<Vec<u32>> {
    let mut listener = PgListener::connect(read_url).await?;
    listener.listen("cqrs_projection").await?;
    let (mut samples, mut seen) = (Vec::new(), LogPosition::START);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < phase {
        tick.tick().await;
        let clock = Instant::now();
        // A fresh snapshot sees only committed events.
        let head = events::head(write).await?;
        // The announcements queue in the listener; one seen before may already cover the head.
        while seen < head {
            let announced = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await;
            let announced = announced.map_err(|_| anyhow::anyhow!("no checkpoint for 10 s"))??;
            seen = projection_position(announced.payload()).map_or(seen, |at| at.max(seen));
        }
        samples.push(clock.elapsed().as_micros() as u32);
    }
    samples.sort_unstable();
    Ok(samples)
}

/// Reads right after a write, µs, sorted: with the write's consistency token, and without one.
pub struct AfterWrite {
    pub token: Vec<u32>,
    pub plain: Vec<u32>,
}

/// One client that creates a user, then at once reads: every other time the user it created,
/// with the create's consistency token; in between a random seeded user, without a token. The
/// plain read is the token read's baseline: the same client, at the same point after a write
/// (a read right after a create took 0.9 ms at the median where a client that only reads took
/// 0.3 ms, token or not), so the difference is what waiting for the token costs.
pub async fn reads_after_writes(
    client: &reqwest::Client,
    address: &str,
    started: Instant,
    phase: Duration,
) -> AfterWrite {
    let url = format!("{address}/graphql");
    let mut after = AfterWrite {
        token: Vec::new(),
        plain: Vec::new(),
    };
    let mut i = 0;
    while started.elapsed() < phase {
        i += 1;
        let body = serde_json::json!({
            "query": CREATE_MUTATION,
            "variables": { "input": { "name": "Token", "email": format!("token-{i}@example.com") } },
        });
        let created: serde_json::Value =
            serde_json::from_str(&post(client, &url, body.to_string()).await).expect("JSON");
        let payload = &created["data"]["createUser"];
        let with_token = i % 2 == 1;
        let read = if with_token {
            serde_json::json!({
                "query": "query($id: ID!, $token: String) { user(id: $id, consistencyToken: $token) { id name email version createdAt updatedAt } }",
                "variables": { "id": payload["user"]["id"], "token": payload["consistencyToken"] },
            })
            .to_string()
        } else {
            user_body(&random_user(usize::MAX - 1, i, 11))
        };
        let sent = Instant::now();
        let answer = post(client, &url, read).await;
        let took = sent.elapsed().as_micros() as u32;
        if with_token {
            assert!(answer.contains("\"Token\""), "read its own write: {answer}");
            after.token.push(took);
        } else {
            after.plain.push(took);
        }
    }
    after.token.sort_unstable();
    after.plain.sort_unstable();
    after
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

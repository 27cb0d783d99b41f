//! The load generator: concurrent keep-alive HTTP clients POSTing GraphQL for a fixed time, each
//! answer checked, each latency kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::postgres::seeded_id;

/// The seeded users a read picks from, and the pages they fill.
pub const SEEDED: u64 = 100_000;
pub const PAGE_SIZE: u64 = 20;

/// What one phase of load did.
pub struct Outcome {
    pub requests: u64,
    pub elapsed: Duration,
    /// Every request's latency, in µs, sorted.
    pub latencies: Vec<u32>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// The value at quantile `q` (0..=1) of `sorted` (NaN when empty).
pub fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[rank])
}

/// The latency at quantile `q` of sorted µs, in ms.
pub fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    quantile(sorted, q) / 1e3
}

/// A request body for client `worker`'s `i`-th request.
pub type Body = Arc<dyn Fn(usize, u64) -> String + Send + Sync>;

/// `clients` clients, each POSTing `body(worker, i)` to `/graphql` one after another for `phase`.
/// Any answer that is not a 200 without `errors` stops the benchmark: a rate of failures would
/// be no measure.
pub async fn run(
    client: &reqwest::Client,
    address: &str,
    clients: usize,
    phase: Duration,
    body: Body,
) -> Outcome {
    let url: Arc<str> = format!("{address}/graphql").into();
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let mut i = 0;
                while started.elapsed() < phase {
                    i += 1;
                    let sent = Instant::now();
                    post(&client, &url, body(worker, i)).await;
                    latencies.push(sent.elapsed().as_micros() as u32);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("a client panicked"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Outcome {
        requests: latencies.len() as u64,
        elapsed,
        latencies,
    }
}

/// POSTs one GraphQL request and returns the answer's body, panicking on anything but success.
pub async fn post(client: &reqwest::Client, url: &str, body: String) -> String {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(
        status.is_success() && !text.contains("\"errors\""),
        "{status}: {text}"
    );
    text
}

/// A random seeded user, by a hash of the request (no shared generator between clients).
pub fn random_user(worker: usize, i: u64, salt: u64) -> String {
    seeded_id(mix(worker, i, salt) % SEEDED + 1)
}

/// A random page of the seeded users (1-based).
pub fn random_page(worker: usize, i: u64, salt: u64) -> u64 {
    mix(worker, i, salt) % (SEEDED / PAGE_SIZE) + 1
}

/// A number in 0..100, to pick a mixed load's kind of request.
pub fn percentile(worker: usize, i: u64) -> u64 {
    mix(worker, i, 0x9e37) % 100
}

/// SplitMix64 of the request's coordinates: cheap, and every request its own number.
fn mix(worker: usize, i: u64, salt: u64) -> u64 {
    let mut z = (worker as u64) << 40 ^ i ^ salt.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub const USER_QUERY: &str =
    "query($id: ID!) { user(id: $id) { id name email version createdAt updatedAt } }";
pub const PAGE_QUERY: &str = "query($page: Int!) { users(page: $page, pageSize: 20) { totalCount items { id name email version createdAt updatedAt } } }";
pub const CREATE_MUTATION: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } consistencyToken } }";

pub fn user_body(id: &str) -> String {
    format!(r#"{{"query":"{USER_QUERY}","variables":{{"id":"{id}"}}}}"#)
}

pub fn page_body(page: u64) -> String {
    format!(r#"{{"query":"{PAGE_QUERY}","variables":{{"page":{page}}}}}"#)
}

pub fn create_body(email: &str) -> String {
    format!(
        r#"{{"query":"{CREATE_MUTATION}","variables":{{"input":{{"name":"Bench","email":"{email}"}}}}}}"#
    )
}

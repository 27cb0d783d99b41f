//! The hostile corpus against the release binary: what each kind of hostile request gets back,
//! how long it took, and the server's memory (RSS) after it, then the peak and what RSS returns
//! to once the corpus is over.
//!
//! Run: `cargo bench --bench hostile` (the server runs on SQLite in a temporary directory; no
//! database server needed). `HOSTILE_ROUNDS` repeats the corpus (default 1).

use std::process::Command;
use std::time::{Duration, Instant};

mod corpus;
// Shared with the throughput bench, which uses what this one does not.
#[allow(dead_code)]
#[path = "../support/server.rs"]
mod server;
mod sockets;

use corpus::{at_the_limit, corpus, create_user, post};
use server::Server;

/// How long the server is left alone before its RSS is read as settled.
const SETTLE: Duration = Duration::from_secs(10);

/// The longest any one kind may take before it is reported as unanswered.
const KIND_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("HOSTILE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let dir = tempfile::tempdir()?;
    let client = reqwest::Client::new();
    let server = start(dir.path(), &client).await?;
    // Warm up with 1 000 users (so pages are full) and one burst of legitimate reads as heavy
    // as the limits allow, so the idle figure includes grown pools and caches.
    for chunk in (0..1000).collect::<Vec<_>>().chunks(50) {
        let creates = chunk.iter().map(|i| {
            let body = create_user(&format!("u{i}@example.com"));
            let (client, address) = (&client, &server.address);
            async move { post(client, address, &body).await }
        });
        for created in futures::future::join_all(creates).await {
            created?;
        }
    }
    let warm = at_the_limit(&client, &server.address, 300).await?;
    tokio::time::sleep(SETTLE).await;
    let idle = server.memory_kib("VmRSS");
    println!(
        "idle RSS after 1 000 writes and 300 reads at the cost limit ({warm}): {} MiB\n",
        mib(idle)
    );
    println!("| kind | answer | ms | RSS after (MiB) |");
    println!("|---|---|---:|---:|");
    for _ in 0..rounds {
        for (name, kind) in corpus() {
            let started = Instant::now();
            let answer = match tokio::time::timeout(KIND_TIMEOUT, kind(&client, &server)).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => format!("client error: {err:#}"),
                Err(_) => format!("no answer in {} s", KIND_TIMEOUT.as_secs()),
            };
            let ms = started.elapsed().as_millis();
            let rss = mib(server.memory_kib("VmRSS"));
            println!("| {name} | {answer} | {ms} | {rss} |");
        }
    }
    let peak = server.memory_kib("VmHWM");
    tokio::time::sleep(SETTLE).await;
    let after = server.memory_kib("VmRSS");
    let health = client
        .get(format!("{}/healthz", server.address))
        .send()
        .await
        .map(|r| r.status().as_u16());
    println!(
        "\npeak RSS {} MiB; RSS {} s after the corpus {} MiB (idle was {} MiB); /healthz {health:?}",
        mib(peak),
        SETTLE.as_secs(),
        mib(after),
        mib(idle)
    );
    Ok(())
}

/// Starts the release binary on fresh SQLite files in `dir`.
async fn start(dir: &std::path::Path, client: &reqwest::Client) -> anyhow::Result<Server> {
    let db = |name: &str| format!("sqlite://{}/{name}?mode=rwc", dir.display());
    let (write, read) = (db("write.db"), db("read.db"));
    let args = ["--database-url", &write, "--read-database-url", &read];
    let mut server = Server::start(
        Command::new(env!("CARGO_BIN_EXE_cqrs-users")),
        &args,
        "warn",
    )?;
    server.ready(client, false, Duration::from_secs(60)).await?;
    Ok(server)
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

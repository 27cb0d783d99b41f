//! The hostile corpus against the release binary: what each kind of hostile request gets back,
//! how long it took, and the server's memory (RSS) after it, then the peak and what RSS returns
//! to once the corpus is over.
//!
//! Run: `cargo bench --bench hostile` (the server runs on SQLite in a temporary directory; no
//! database server needed). `HOSTILE_ROUNDS` repeats the corpus (default 1).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod corpus;
mod sockets;

use corpus::{at_the_limit, corpus, create_user, post};

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
    let server = Server::start(dir.path())?;
    let client = reqwest::Client::new();
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
    let idle = server.memory("VmRSS");
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
            let rss = mib(server.memory("VmRSS"));
            println!("| {name} | {answer} | {ms} | {rss} |");
        }
    }
    let peak = server.memory("VmHWM");
    tokio::time::sleep(SETTLE).await;
    let after = server.memory("VmRSS");
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

/// The running release binary.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(dir: &std::path::Path) -> anyhow::Result<Server> {
        let db = |name: &str| format!("sqlite://{}/{name}?mode=rwc", dir.display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_cqrs-users"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "warn,cqrs_users=info",
            ])
            .args(["--database-url", &db("write.db")])
            .args(["--read-database-url", &db("read.db")])
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let address = loop {
            let line = rx.recv_timeout(Duration::from_secs(60))?;
            if let Some(rest) = line.split("playground at ").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                break url.trim_end_matches('/').to_owned();
            }
        };
        Ok(Server { child, address })
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS` now, `VmHWM` the peak).
    fn memory(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

//! Instructions per request, counted by callgrind: the release binary runs under valgrind on
//! fresh SQLite files while this process sends it a fixed workload, one request at a time, and
//! asks callgrind (`callgrind_control`) to zero its counters before each scenario and dump them
//! after. Counted instructions do not depend on what else the machine does, so a change that
//! makes a path 5% slower shows as 5% more, where a rate on 2 shared cores drifts by more.
//!
//! Everything the server process executes counts: HTTP, GraphQL, the command's transaction,
//! SQLite, and for a create the projector's and the in-memory model's work on its event. The
//! client runs outside valgrind and does not count.
//!
//! Run: `cargo bench --bench instructions` (valgrind on the PATH). `INSTRUCTIONS_BINARY` measures
//! another build of the server with the same workload (to compare two commits);
//! `INSTRUCTIONS_REQUESTS` sets the requests per scenario (default 200); with
//! `INSTRUCTIONS_KEEP_DUMPS` set, each scenario's callgrind dump is kept (its path is printed) for
//! `callgrind_annotate --inclusive=yes`, which says where the scenario's instructions went.

// Shared with the throughput bench, which uses what this one does not.
#[allow(dead_code)]
#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

use server::Server;

/// A scenario's name, and its `i`-th request's body.
type Scenario<'a> = (&'static str, Box<dyn Fn(u64) -> Value + 'a>);

/// Users created before anything is counted: the data every read scenario reads.
const USERS: u64 = 200;
const WARM_UP: u64 = 30;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let binary = std::env::var("INSTRUCTIONS_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cqrs-users").to_owned());
    let requests: u64 = std::env::var("INSTRUCTIONS_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let db = |name: &str| format!("sqlite://{}/{name}?mode=rwc", dir.path().display());
    let (write_url, read_url) = (db("write.db"), db("read.db"));
    let out = dir.path().join("callgrind.out");
    let mut valgrind = Command::new("valgrind");
    valgrind
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args(["--dump-instr=no", "--dump-line=no", &binary]);
    // Long lease and poll: the server's own timers wake it as rarely as they can, so what is
    // counted is the requests' work.
    let args = [
        "--database-url",
        &write_url,
        "--read-database-url",
        &read_url,
        "--projector-lease-ms",
        "3600000",
        "--log-poll-ms",
        "3600000",
    ];
    let mut server = Server::start(valgrind, &args, "warn")?;
    let client = reqwest::Client::new();
    server
        .ready(&client, false, Duration::from_secs(600))
        .await?;
    let url = format!("{}/graphql", server.address);
    let (write, read) = (
        Database::connect(&write_url).await?,
        Database::connect(&read_url).await?,
    );

    let mut ids = Vec::new();
    for i in 0..USERS {
        ids.push(create(&client, &url, &format!("seed-{i}@example.com")).await?);
    }
    settle(&write, &read).await?;
    for i in 0..WARM_UP {
        post(&client, &url, user(&ids[i as usize])).await?;
        post(&client, &url, page(i)).await?;
    }

    println!(
        "| scenario ({requests} requests each, SQLite, {USERS} users) | instructions per request |"
    );
    println!("|---|---:|");
    let pick = |i: u64| ids[(i * 7 % USERS) as usize].clone();
    let scenarios: [Scenario<'_>; 3] = [
        ("`user(id)`", Box::new(move |i| user(&pick(i)))),
        (
            "`users(page, pageSize: 20)` with `totalCount`",
            Box::new(page),
        ),
        (
            "`createUser` (with its projection)",
            Box::new(|i| create_body(&format!("counted-{i}@example.com"))),
        ),
    ];
    for (n, (name, body)) in scenarios.iter().enumerate() {
        control(server.pid(), &["-z"])?;
        for i in 0..requests {
            post(&client, &url, body(i)).await?;
        }
        // A create's projection runs after its answer: wait for it, so that it is counted.
        settle(&write, &read).await?;
        let tag = format!("scenario{n}");
        control(server.pid(), &["-d", &tag])?;
        let instructions = dumped(dir.path(), &tag)?;
        println!("| {name} | {} |", thousands(instructions / requests));
    }
    server.stop()?;
    if std::env::var_os("INSTRUCTIONS_KEEP_DUMPS").is_some() {
        eprintln!("callgrind dumps kept in {}", dir.keep().display());
    }
    Ok(())
}

/// Runs `callgrind_control <args> <pid>` (through vgdb; it returns once callgrind has done it).
fn control(pid: u32, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()?;
    let said = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success() && said.contains("OK"),
        "callgrind_control {args:?}: {said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The instructions counted in the dump triggered as `tag`.
fn dumped(dir: &Path, tag: &str) -> anyhow::Result<u64> {
    let trigger = format!("Trigger: dump {tag}\n");
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path()).unwrap_or_default();
        if !text.contains(&trigger) {
            continue;
        }
        return text
            .lines()
            .find_map(|l| l.strip_prefix("summary: "))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no summary in the dump {tag}"));
    }
    anyhow::bail!("no dump {tag}")
}

/// Waits until the projection has applied the whole log, then a moment for the in-memory model
/// (which follows the same log) to be idle too.
async fn settle(write: &DatabaseConnection, read: &DatabaseConnection) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let head = scalar(write, "SELECT COALESCE(max(position), 0) FROM user_events").await?;
        let checkpoint = scalar(
            read,
            "SELECT COALESCE(max(position), 0) FROM projection_checkpoints WHERE projection = 'users_view'",
        )
        .await?;
        if checkpoint >= head {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "projection stuck"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))?;
    Ok(row.try_get_by_index(0)?)
}

async fn post(client: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let answer: Value = client.post(url).json(&body).send().await?.json().await?;
    anyhow::ensure!(answer.get("errors").is_none(), "{answer}");
    Ok(answer)
}

async fn create(client: &reqwest::Client, url: &str, email: &str) -> anyhow::Result<String> {
    let answer = post(client, url, create_body(email)).await?;
    answer["data"]["createUser"]["user"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no id: {answer}"))
}

fn create_body(email: &str) -> Value {
    json!({
        "query": "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } consistencyToken } }",
        "variables": { "input": { "name": "Counted", "email": email } },
    })
}

fn user(id: &str) -> Value {
    json!({
        "query": "query($id: ID!) { user(id: $id) { id name email version createdAt updatedAt } }",
        "variables": { "id": id },
    })
}

fn page(i: u64) -> Value {
    json!({
        "query": "query($page: Int!) { users(page: $page, pageSize: 20) { totalCount items { id name email version createdAt updatedAt } } }",
        "variables": { "page": i % (USERS / 20) + 1 },
    })
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

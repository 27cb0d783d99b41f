//! The service against PostgreSQL alone, in one run: the release binary in its own process on
//! fresh databases seeded with 100 000 users, loaded by 32 keep-alive HTTP clients, each
//! scenario followed by pgbench running the same SQL from 32 clients for as long; then what a
//! write load does to reads (projection lag, a read with a consistency token), and `createUser`
//! on SQLite. Prints one markdown table of ratios, CPU per request (server, PostgreSQL, load
//! generator), latencies, start-up time and memory, and the targets met or not.
//!
//! Run: `cargo bench --bench throughput` (PostgreSQL at `BENCH_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; `pgbench` and `psql` on the PATH).
//! `BENCH_SECONDS` sets each timed phase (default 10).

#[path = "../support/server.rs"]
mod server;

mod load;
mod pgbench;
mod postgres;
mod probes;
mod report;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Body, SEEDED, create_body, page_body, percentile, random_page, random_user, user_body};
use pgbench::{INSERT, PAGE, POINT};
use postgres::{BackendCpu, Databases};
use report::{Measured, Report, Row};
use server::{Server, own_cpu};

const CLIENTS: usize = 32;
const BINARY: &str = env!("CARGO_BIN_EXE_cqrs-users");
/// Lets the in-memory model's "loaded" line through, to time it; nothing per request.
const LOG_LEVEL: &str = "warn,cqrs_users::projections::memory=info";

fn main() -> anyhow::Result<()> {
    // Two workers: the generator shares the machine's two cores with the server and PostgreSQL,
    // as pgbench does with its `-j 2`.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let admin_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let databases = Databases::create(&admin_url).await?;
    let result = run(&databases, Duration::from_secs(seconds)).await;
    databases.drop_all().await?;
    let report = result?;
    println!("{report}");
    Ok(())
}

async fn run(databases: &Databases, phase: Duration) -> anyhow::Result<Report> {
    let (write_url, read_url) = (
        databases.url(&databases.write),
        databases.url(&databases.read),
    );
    // The write pool at its default (10): with 32 connections for 32 clients, PostgreSQL ran up
    // to 32 creates at once on 2 cores, and the projection lagged more (p99 51 and 64 ms against
    // 32 and 45 ms, the same create rate within the runs' noise).
    let serve_args = [
        "--database-url",
        &write_url,
        "--read-database-url",
        &read_url,
        "--read-max-connections",
        "16",
    ];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS + 2)
        .http1_only()
        .build()?;

    let load_before = load_average();
    let started = Instant::now();
    let migrated = Command::new(BINARY)
        .args(["migrate", "--log-level", "warn"])
        .args(&serve_args[..4])
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(migrated.success(), "migrate failed");
    let write = sea_orm::Database::connect(&write_url).await?;
    let read = sea_orm::Database::connect(&read_url).await?;
    postgres::seed_write_model(&write, SEEDED).await?;
    let seeded = started.elapsed();
    // A first server projects the seed into users_view, so the measured one starts from it.
    let mut projecting = Server::start(Command::new(BINARY), &serve_args, "warn")?;
    projecting
        .ready(&client, false, Duration::from_secs(60))
        .await?;
    let projected = postgres::caught_up(&write, &read, Duration::from_secs(600)).await?;
    projecting.stop()?;
    eprintln!(
        "seeded {SEEDED} users in {:.1} s, projected in {:.1} s",
        seeded.as_secs_f64(),
        projected.as_secs_f64()
    );
    postgres::psql(&read_url, pgbench::BENCH_USERS)?;
    let backends = BackendCpu::start(&databases.stem);
    let flags = databases.pgbench_flags();

    let mut server = Server::start(Command::new(BINARY), &serve_args, LOG_LEVEL)?;
    let startup = server.ready(&client, true, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_kib = server.memory_kib("VmRSS");
    let idle_split_kib = (server.memory_kib("RssAnon"), server.memory_kib("RssFile"));
    let first = load::post(
        &client,
        &format!("{}/graphql", server.address),
        user_body(&postgres::seeded_id(1)),
    )
    .await;
    anyhow::ensure!(
        first.contains("User 1"),
        "the seeded users are served: {first}"
    );
    load::run(
        &client,
        &server.address,
        CLIENTS,
        Duration::from_secs(2),
        mixed("warmup"),
    )
    .await;

    let scenarios: Vec<Scenario> = vec![
        (
            "`user(id)`, random seeded user",
            Arc::new(|w, i| user_body(&random_user(w, i, 1))),
            "point `SELECT` by id",
            vec![(POINT, 1)],
        ),
        (
            "`users(page, pageSize: 20)` with `totalCount`, random page",
            Arc::new(|w, i| page_body(random_page(w, i, 2))),
            "the same page + `count(*)`",
            vec![(PAGE, 1)],
        ),
        (
            "`createUser`",
            Arc::new(|w, i| create_body(&format!("create-{w}-{i}@example.com"))),
            "single-row `INSERT`",
            vec![(INSERT, 1)],
        ),
        (
            "mixed: 90% `user(id)`, 8% page, 2% `createUser`",
            mixed("mixed"),
            "the same SQL mix (`-f point@90 -f page@8 -f insert@2`)",
            vec![(POINT, 90), (PAGE, 8), (INSERT, 2)],
        ),
    ];
    let mut rows = Vec::new();
    for (name, body, baseline_name, scripts) in scenarios {
        let ours = measure(&client, &server, &backends, phase, body).await;
        let baseline = pgbench::run(&flags, &databases.read, &scripts, CLIENTS, phase, &backends)?;
        eprintln!(
            "{name}: {:.0} /s; pgbench {:.0} /s",
            ours.outcome.rate(),
            baseline.tps
        );
        rows.push(Row {
            scenario: name.to_owned(),
            ours,
            baseline: Some((baseline_name.to_owned(), baseline)),
        });
    }

    // The write load again, now watched: the lag sampled, and two clients more reading.
    let probe_started = Instant::now();
    let projected =
        probes::sample_projected(write_url.clone(), read_url.clone(), probe_started, phase);
    let creates = load::run(
        &client,
        &server.address,
        CLIENTS,
        phase,
        Arc::new(|w, i| create_body(&format!("probed-{w}-{i}@example.com"))),
    );
    let (creates, lag, after_write, plain) = tokio::join!(
        creates,
        probes::sample_lag(&write, &read, probe_started, phase),
        probes::reads_after_writes(&client, &server.address, probe_started, phase),
        probes::plain_reads(&client, &server.address, probe_started, phase),
    );
    let peak_kib = server.memory_kib("VmHWM");
    server.stop()?;

    let sqlite = sqlite_creates(&client, phase).await?;
    eprintln!("createUser on SQLite: {:.0} /s", sqlite.outcome.rate());
    let insert = rows[2].baseline.as_ref().map_or(f64::NAN, |(_, b)| b.tps);
    rows.push(Row {
        scenario: "`createUser` on SQLite (fresh files)".to_owned(),
        ours: sqlite,
        baseline: None,
    });
    Ok(Report {
        phase,
        load: (load_before, load_average()),
        rows,
        sqlite_insert_tps: insert,
        startup,
        idle_kib,
        idle_split_kib,
        peak_kib,
        probed_creates: creates.rate(),
        lag: lag?,
        projected: projected
            .join()
            .map_err(|_| anyhow::anyhow!("the commit-lag sampler panicked"))??,
        after_write,
        plain,
    })
}

/// A scenario: its name, its requests, and pgbench's baseline (named, its scripts and weights).
type Scenario = (&'static str, Body, &'static str, Vec<(&'static str, u32)>);

/// The mixed load: 90% `user(id)`, 8% a page, 2% `createUser` (emails tagged `tag`).
fn mixed(tag: &'static str) -> Body {
    Arc::new(move |w, i| match percentile(w, i) {
        0..90 => user_body(&random_user(w, i, 3)),
        90..98 => page_body(random_page(w, i, 4)),
        _ => create_body(&format!("{tag}-{w}-{i}@example.com")),
    })
}

/// One phase of `CLIENTS` clients sending `body`, and the CPU time it cost each process.
async fn measure(
    client: &reqwest::Client,
    server: &Server,
    backends: &BackendCpu,
    phase: Duration,
    body: Body,
) -> Measured {
    let (server_before, generator_before) = (server.cpu(), own_cpu().own);
    let mark = backends.mark();
    let outcome = load::run(client, &server.address, CLIENTS, phase, body).await;
    Measured {
        server_cpu: server.cpu().saturating_sub(server_before),
        database_cpu: Some(backends.since(&mark)),
        client_cpu: own_cpu().own.saturating_sub(generator_before),
        outcome,
    }
}

/// `createUser` on a server of its own on fresh SQLite files (the default set-up).
async fn sqlite_creates(client: &reqwest::Client, phase: Duration) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let db = |name: &str| format!("sqlite://{}/{name}?mode=rwc", dir.path().display());
    let (write, read) = (db("write.db"), db("read.db"));
    let args = ["--database-url", &write, "--read-database-url", &read];
    let mut server = Server::start(Command::new(BINARY), &args, LOG_LEVEL)?;
    server.ready(client, true, Duration::from_secs(60)).await?;
    let body = |tag: &'static str| -> Body {
        Arc::new(move |w, i| create_body(&format!("{tag}-{w}-{i}@example.com")))
    };
    load::run(
        client,
        &server.address,
        CLIENTS,
        Duration::from_secs(2),
        body("warm"),
    )
    .await;
    let (server_before, generator_before) = (server.cpu(), own_cpu().own);
    let outcome = load::run(client, &server.address, CLIENTS, phase, body("sqlite")).await;
    let measured = Measured {
        server_cpu: server.cpu().saturating_sub(server_before),
        database_cpu: None,
        client_cpu: own_cpu().own.saturating_sub(generator_before),
        outcome,
    };
    server.stop()?;
    Ok(measured)
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    let all = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    all.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

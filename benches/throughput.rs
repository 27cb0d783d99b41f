//! Benchmarks on PostgreSQL, reported as ratios against baselines measured in the same run:
//!
//! 1. `createUser` per second from 32 concurrent HTTP clients, against single-row INSERTs from 32
//!    `pgbench` clients on the same server (the cost of the command path: HTTP, GraphQL, the
//!    transaction with its row and its event, the ordering column).
//! 2. `users(page, pageSize)` with 100 000 users: the query's database cost with the maintained
//!    count, against the same page with `count(*)`.
//!
//! Run: `cargo bench --bench throughput` (PostgreSQL at `BENCH_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; `pgbench` on the PATH). Fresh databases are
//! created and dropped. `BENCH_SECONDS` sets each timed phase (default 10).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser as _;
use cqrs_users::config::Cli;
use cqrs_users::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;

const CLIENTS: usize = 32;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let admin_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let phase = Duration::from_secs(seconds);
    let admin = Database::connect(&admin_url).await?;
    let stem = format!("cqrs_bench_{}", uuid::Uuid::now_v7().simple());
    let (write_name, read_name) = (format!("{stem}_write"), format!("{stem}_read"));
    for name in [&write_name, &read_name] {
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
    }
    let result = run(&admin_url, &write_name, &read_name, phase).await;
    for name in [&write_name, &read_name] {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    result
}

async fn run(
    admin_url: &str,
    write_name: &str,
    read_name: &str,
    phase: Duration,
) -> anyhow::Result<()> {
    let server = url::Url::parse(admin_url)?;
    let on_database = |name: &str| {
        let mut url = server.clone();
        url.set_path(name);
        String::from(url)
    };
    let (write_url, read_url) = (on_database(write_name), on_database(read_name));
    let cli = Cli::try_parse_from([
        "cqrs-users",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &write_url,
        "--read-database-url",
        &read_url,
        "--max-connections",
        "32",
        "--read-max-connections",
        "16",
        "--log-level",
        "warn",
    ])?;
    let app = Application::build(&cli.serve).await?;
    let address = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;

    println!(
        "== 1. writes: {CLIENTS} clients, {} s per phase",
        phase.as_secs()
    );
    create_users(&client, &address, Duration::from_secs(2), "warmup").await;
    let ours = create_users(&client, &address, phase, "bench").await;
    println!("createUser over HTTP          {ours:>10.0} /s");
    let single = pgbench(&write_url, write_name, phase, SINGLE_INSERT)?;
    println!("pgbench single-row INSERT     {single:>10.0} /s");
    let same = pgbench(&write_url, write_name, phase, COMMAND_TRANSACTION)?;
    println!("pgbench the command's SQL     {same:>10.0} /s   (BEGIN; users row; event; COMMIT)");
    println!("ratio createUser / INSERT     {:>10.2}", ours / single);
    println!("ratio createUser / its SQL    {:>10.2}", ours / same);

    println!("== 2. reads: users(page: 500, pageSize: 20) at 100 000 users");
    let read_db = Database::connect(&read_url).await?;
    let write_db = Database::connect(&write_url).await?;
    while cqrs_users::projections::status(&write_db, &read_db)
        .await?
        .lag
        > 0
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seed_read_model(&read_db, 100_000).await?;
    let page_sql = "SELECT * FROM users_view ORDER BY ordinal LIMIT 20 OFFSET 9980";
    let maintained = time_per_call(
        &read_db,
        &[
            page_sql,
            "SELECT user_count FROM users_view_stats WHERE id = 1",
        ],
        300,
    )
    .await?;
    let counted = time_per_call(
        &read_db,
        &[page_sql, "SELECT count(*) FROM users_view"],
        300,
    )
    .await?;
    println!(
        "page + maintained count       {:>10.3} ms",
        maintained.as_secs_f64() * 1e3
    );
    println!(
        "page + count(*)               {:>10.3} ms",
        counted.as_secs_f64() * 1e3
    );
    println!(
        "ratio count(*) / maintained   {:>10.2}",
        counted.as_secs_f64() / maintained.as_secs_f64()
    );
    let rate = list_users(&client, &address, phase).await;
    println!("users query over HTTP         {rate:>10.0} /s ({CLIENTS} clients)");

    shutdown.cancel();
    server.await??;
    Ok(())
}

/// Creates users from `CLIENTS` concurrent clients for `phase`; returns successes per second.
async fn create_users(client: &reqwest::Client, address: &str, phase: Duration, tag: &str) -> f64 {
    let tag = tag.to_owned();
    clients(client, address, phase, move |worker, i| {
        json!({
            "query": "mutation($input: CreateUserInput!) { createUser(input: $input) { consistencyToken } }",
            "variables": { "input": { "name": "Bench", "email": format!("{tag}-{worker}-{i}@example.com") } }
        })
    })
    .await
}

async fn list_users(client: &reqwest::Client, address: &str, phase: Duration) -> f64 {
    clients(client, address, phase, |_, _| {
        json!({ "query": "{ users(page: 500, pageSize: 20) { totalCount hasNextPage items { id name email version createdAt } } }" })
    })
    .await
}

/// `CLIENTS` concurrent clients each POSTing `body(worker, i)` in a loop for `phase`, every answer
/// checked for errors; returns requests per second.
async fn clients(
    client: &reqwest::Client,
    address: &str,
    phase: Duration,
    body: impl Fn(usize, u64) -> serde_json::Value + Send + Sync + 'static,
) -> f64 {
    let body = Arc::new(body);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (client, url, done, body) = (
                client.clone(),
                format!("{address}/graphql"),
                done.clone(),
                body.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0;
                while started.elapsed() < phase {
                    i += 1;
                    let response: serde_json::Value = client
                        .post(&url)
                        .json(&body(worker, i))
                        .send()
                        .await
                        .expect("request")
                        .json()
                        .await
                        .expect("json");
                    assert!(response.get("errors").is_none(), "{response}");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// One INSERT of a row shaped like `users`, committed on its own.
const SINGLE_INSERT: &str = "INSERT INTO bench_users (id, name, email, version, created_at, updated_at) \
    VALUES (gen_random_uuid(), 'Bench', md5(random()::text) || '@example.com', 1, now(), now());\n";

/// What `createUser` sends, by hand: the row and its event in one transaction (the event table
/// keeps the service's index and defaults, as it is the service's own `user_events`).
const COMMAND_TRANSACTION: &str = "BEGIN;\n\
    INSERT INTO bench_users (id, name, email, version, created_at, updated_at) \
    VALUES (gen_random_uuid(), 'Bench', md5(random()::text) || '@example.com', 1, now(), now());\n\
    INSERT INTO user_events (user_id, version, event_type, payload, occurred_at) \
    VALUES (gen_random_uuid(), 1, 'UserCreated', '{\"type\":\"UserCreated\",\"name\":\"Bench\",\"email\":\"b@example.com\"}', now()) \
    RETURNING position, tx_id;\n\
    COMMIT;\n";

/// Runs `script` from `CLIENTS` pgbench clients for `phase` on a table shaped like `users`;
/// returns transactions per second.
fn pgbench(url: &str, database: &str, phase: Duration, script: &str) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("script.sql");
    std::fs::write(&path, script)?;
    let table = Command::new("psql")
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .arg(url)
        .args(["-qc", "CREATE TABLE IF NOT EXISTS bench_users (id uuid PRIMARY KEY, name varchar(100), \
                       email varchar(254) UNIQUE, version int, created_at timestamptz, updated_at timestamptz)"])
        .status()?;
    anyhow::ensure!(table.success(), "create the pgbench table");
    let (host, port, user) = connection_parts(url);
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &CLIENTS.to_string(),
            "-j",
            "2",
            "-T",
            &phase.as_secs().to_string(),
        ])
        .args(["-h", &host, "-p", &port, "-U", &user, "-f"])
        .arg(&path)
        .arg(database)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {stdout}"))
}

/// Adds `users` rows straight into the read model (after what the write phase projected).
async fn seed_read_model(db: &DatabaseConnection, users: i64) -> anyhow::Result<()> {
    db.execute_unprepared(&format!(
        "INSERT INTO users_view (id, name, email, version, created_at, updated_at, ordinal) \
         SELECT gen_random_uuid(), 'User ' || i, 'user' || i || '@example.com', 1, now(), now(), \
                s.created_count + i \
         FROM generate_series(1, {users}) AS i, users_view_stats AS s WHERE s.id = 1"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "UPDATE users_view_stats SET user_count = user_count + {users}, \
         created_count = created_count + {users} WHERE id = 1"
    ))
    .await?;
    db.execute_unprepared("ANALYZE users_view").await?;
    Ok(())
}

/// Mean time of running `statements` in turn, over `rounds` rounds (after a few warm-up rounds).
async fn time_per_call(
    db: &DatabaseConnection,
    statements: &[&str],
    rounds: u32,
) -> anyhow::Result<Duration> {
    let backend = db.get_database_backend();
    for _ in 0..10 {
        for sql in statements {
            db.query_all_raw(Statement::from_string(backend, *sql))
                .await?;
        }
    }
    let started = Instant::now();
    for _ in 0..rounds {
        for sql in statements {
            db.query_all_raw(Statement::from_string(backend, *sql))
                .await?;
        }
    }
    Ok(started.elapsed() / rounds)
}

/// Host, port and user of a `postgres://user@host:port/db` URL, for pgbench's flags.
fn connection_parts(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (user, host_port) = authority
        .rsplit_once('@')
        .unwrap_or(("postgres", authority));
    let user = user.split(':').next().unwrap_or("postgres");
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    (host.to_owned(), port.to_owned(), user.to_owned())
}

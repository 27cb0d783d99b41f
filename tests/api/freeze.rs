//! Frozen instances (SIGSTOP, as a long pause, a VM freeze or a partition would): one stopped
//! inside a transaction holds locks and the log's readers back only until the database's
//! idle-in-transaction limit ends its session; the healthy instance then projects and answers
//! token reads within its consistency timeout (PostgreSQL, the real binary).

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{
    Backend, CREATE_USER, TestApp, USER, assert_projected_exactly_once, binary, serve_binary,
    spawn_app_with,
};

/// Lease and idle-in-transaction limit of 1 s each: a frozen holder is out after about 2 s, well
/// inside the 8 s a token read waits.
const FLAGS: [&str; 6] = [
    "--projector-lease-ms",
    "1000",
    "--db-idle-in-transaction-timeout-ms",
    "1000",
    "--consistency-timeout-ms",
    "8000",
];

/// The projecting instance is stopped while inside its batch transaction (holding the lease row
/// and a transaction id). The other instance takes the lease over and reads its own writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_in_its_batch_stalls_nobody_for_long() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped (several instances need PostgreSQL)");
        return;
    };
    let mut app = spawn_app_with(backend, &FLAGS).await;
    // The binary leads: the in-process server gives the lease up, then comes back as follower.
    app.stop().await;
    let mut frozen = Frozen::start(&app);
    wait_for(
        Duration::from_secs(15),
        "the binary to take the lease",
        || async { app.lease_holder().await.is_some() },
    )
    .await;
    app.start().await;

    let load = Load::start(&app.address, 6);
    let caught = frozen
        .stop_when(&app.read_db, "read", "backend_xid IS NOT NULL")
        .await;
    eprintln!("leader stopped inside its batch transaction after {caught} tries");

    reads_its_own_write(&app).await;
    assert_eq!(
        app.lease_holder().await.as_deref(),
        Some(app.instance_id()),
        "the healthy instance took the lease over"
    );

    let acknowledged = load.stop().await;
    frozen.resume();
    let users = app.converge(Duration::from_secs(30)).await;
    assert!(users.len() > acknowledged);
    assert_projected_exactly_once(&app).await;
}

/// An instance is stopped while commands of its own are inside their transactions (each with a
/// transaction id, which holds back every reader of the log). The other instance's writes are
/// projected and readable with their tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_frozen_in_its_commands_stalls_nobody_for_long() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped (several instances need PostgreSQL)");
        return;
    };
    // The in-process server leads; the binary only serves commands.
    let app = spawn_app_with(backend, &FLAGS).await;
    let mut frozen = Frozen::start(&app);
    let load = Load::start(&frozen.address, 8);
    let caught = frozen
        .stop_when(&app.write_db, "write", "backend_xid IS NOT NULL")
        .await;
    eprintln!("instance stopped inside a command's transaction after {caught} tries");

    reads_its_own_write(&app).await;

    frozen.resume();
    let acknowledged = load.stop().await;
    let users = app.converge(Duration::from_secs(30)).await;
    assert!(users.len() > acknowledged);
    assert_projected_exactly_once(&app).await;
}

/// The real binary, on the app's databases, to be stopped and resumed.
struct Frozen {
    child: Child,
    address: String,
}

impl Frozen {
    fn start(app: &TestApp) -> Frozen {
        let mut command = binary();
        command
            .args(["--database-url", app.config.write_database_url()])
            .args(["--read-database-url", app.config.read_database_url()])
            .args(FLAGS);
        let (child, address) = serve_binary(command);
        Frozen { child, address }
    }

    /// Stops the process at a moment when one of its `pool` sessions is in a transaction that
    /// matches `condition`; how many tries it took.
    async fn stop_when(&mut self, db: &DatabaseConnection, pool: &str, condition: &str) -> usize {
        let sql = format!(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE application_name = 'cqrs-users {pool} pid {}' AND xact_start IS NOT NULL \
             AND {condition}",
            self.child.id()
        );
        for attempt in 1..=2000 {
            self.signal("-STOP");
            let row = db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
                .await
                .unwrap()
                .unwrap();
            if row.try_get::<i64>("", "n").unwrap() > 0 {
                return attempt;
            }
            self.signal("-CONT");
            tokio::time::sleep(Duration::from_millis(attempt as u64 % 7)).await;
        }
        panic!("never caught the instance inside a transaction");
    }

    fn resume(&mut self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clients creating users through one instance until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
    writers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(address: &str, writers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let writers = (0..writers)
            .map(|w| {
                let (client, address, stop, acknowledged) = (
                    client.clone(),
                    address.to_owned(),
                    stop.clone(),
                    acknowledged.clone(),
                );
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let body = json!({ "query": CREATE_USER, "variables": { "input": { "name": format!("L{w} #{i}"), "email": format!("l{w}n{i}@example.com") } } });
                        let Ok(response) = client.post(format!("{address}/graphql")).json(&body).send().await else { continue };
                        if let Ok(body) = response.json::<Value>().await
                            && body["data"]["createUser"].is_object()
                        {
                            acknowledged.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acknowledged,
            writers,
        }
    }

    /// Stops the clients; how many creates were acknowledged.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        for writer in self.writers {
            writer.await.unwrap();
        }
        self.acknowledged.load(Ordering::SeqCst)
    }
}

/// A create on the healthy instance, then a read with its token there: answered within the
/// consistency timeout, not `CONSISTENCY_TIMEOUT`.
async fn reads_its_own_write(app: &TestApp) {
    let started = Instant::now();
    let created = app.create_user("During", "during@example.com").await;
    let body = app
        .graphql(
            USER,
            json!({ "id": created["user"]["id"], "consistencyToken": created["consistencyToken"] }),
        )
        .await;
    assert_eq!(body["data"]["user"]["name"], "During", "{body:#}");
    eprintln!(
        "token read answered {:?} after the freeze",
        started.elapsed()
    );
}

async fn wait_for<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

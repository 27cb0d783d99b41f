//! Frozen instances (SIGSTOP, as a long pause, a VM freeze or a partition would): one stopped
//! inside a transaction holds locks and the log's readers back only until the database's
//! idle-in-transaction limit ends its session; the healthy instance then projects and answers
//! token reads within its consistency timeout (PostgreSQL, the real binary).

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::helpers::{Backend, Load, Served, TestApp, eventually, spawn_app_with};

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
    let Some(mut app) = app().await else {
        return;
    };
    // The binary leads: the in-process server gives the lease up, then comes back as follower.
    app.stop().await;
    let frozen = Served::start(binary(&app));
    eventually(Duration::from_secs(15), "the binary to lead", async || {
        app.lease_holder().await.ok_or("no holder")
    })
    .await;
    app.start().await;

    let load = Load::start_renaming(app.address(), 6);
    let caught = stop_when(&frozen, &app.read_db, "projector").await;
    eprintln!("leader stopped inside its batch transaction after {caught} tries");

    reads_its_own_write(&app).await;
    // Eventually: with a 1 s lease on a loaded machine, a renewal can come late and the lease
    // read as lapsed for a moment; what matters is who holds it, not when the read lands.
    eventually(
        Duration::from_secs(10),
        "the healthy instance to hold the lease",
        async || match app.lease_holder().await {
            Some(holder) if holder == app.instance_id() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;

    let acknowledged = load.stop().await.len();
    frozen.signal("-CONT");
    let users = app.converge_exactly_once(Duration::from_secs(30)).await;
    assert!(users.len() > acknowledged);
}

/// An instance is stopped while commands of its own are inside their transactions (each with a
/// transaction id, which holds back every reader of the log). The other instance's writes are
/// projected and readable with their tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_frozen_in_its_commands_stalls_nobody_for_long() {
    // The in-process server leads; the binary only serves commands.
    let Some(app) = app().await else {
        return;
    };
    let frozen = Served::start(binary(&app));
    let load = Load::start_renaming(&frozen.address, 8);
    let caught = stop_when(&frozen, &app.write_db, "write").await;
    eprintln!("instance stopped inside a command's transaction after {caught} tries");

    reads_its_own_write(&app).await;

    frozen.signal("-CONT");
    let acknowledged = load.stop().await.len();
    let users = app.converge_exactly_once(Duration::from_secs(30)).await;
    assert!(users.len() > acknowledged);
}

async fn app() -> Option<TestApp> {
    let backend = Backend::postgres_only("several instances need PostgreSQL")?;
    Some(spawn_app_with(backend, &FLAGS).await)
}

/// The real binary on the app's databases, with the same limits.
fn binary(app: &TestApp) -> std::process::Command {
    let mut command = app.binary();
    command.args(FLAGS);
    command
}

/// Stops the process at a moment when one of its `pool` sessions is inside a transaction that
/// has a transaction id and waits for the process (between statements: a statement alone, in
/// its implicit transaction, commits whether the process runs or not); how many tries it took.
/// The load renames as well as creates, so both commands and the projector's batches are such
/// transactions (on PostgreSQL a create, and a projector's batch of creates, is one statement).
async fn stop_when(frozen: &Served, db: &DatabaseConnection, pool: &str) -> usize {
    let sql = format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE application_name = 'cqrs-users {pool} pid {}' AND state = 'idle in transaction' \
         AND backend_xid IS NOT NULL",
        frozen.pid()
    );
    for attempt in 1..=2000 {
        frozen.signal("-STOP");
        let statement = Statement::from_string(DbBackend::Postgres, sql.clone());
        let row = db.query_one_raw(statement).await.unwrap().unwrap();
        if row.try_get::<i64>("", "n").unwrap() > 0 {
            return attempt;
        }
        frozen.signal("-CONT");
        tokio::time::sleep(Duration::from_millis(attempt as u64 % 7)).await;
    }
    panic!("never caught the instance inside a transaction");
}

/// A create on the healthy instance, then a read with its token there: answered within the
/// consistency timeout, not `CONSISTENCY_TIMEOUT`.
async fn reads_its_own_write(app: &TestApp) {
    let started = Instant::now();
    let created = app.create_user("During", "during@example.com").await;
    let token = Some(created.consistency_token.as_str());
    let user = app.user(&created.user.id, token).await.ok();
    assert_eq!(user.name, "During");
    let elapsed = started.elapsed();
    eprintln!("token read answered {elapsed:?} after the freeze");
}

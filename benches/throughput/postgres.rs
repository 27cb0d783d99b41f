//! The benchmark's PostgreSQL side: fresh databases, the seed of 100 000 users, and the CPU time
//! of the backends serving those databases (read from `/proc`, as the server shares this machine).

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::server::{Cpu, parse_stat};

/// The seeded users' ids: user `i` (1-based) is `01900000-0000-7000-8000-<i in 12 hex digits>`,
/// a well-formed UUIDv7, so clients and pgbench scripts can name a random seeded user.
pub const ID_PREFIX: &str = "01900000-0000-7000-8000-";

pub fn seeded_id(i: u64) -> String {
    format!("{ID_PREFIX}{i:012x}")
}

/// A write and a read database made for one run, dropped by `drop_all`.
pub struct Databases {
    admin: DatabaseConnection,
    server: url::Url,
    /// Every database name starts with it; the backends serving them carry it in their title.
    pub stem: String,
    pub write: String,
    pub read: String,
}

impl Databases {
    pub async fn create(admin_url: &str) -> anyhow::Result<Databases> {
        let admin = Database::connect(admin_url).await?;
        let stem = format!("cqrs_bench_{}", uuid::Uuid::now_v7().simple());
        let (write, read) = (format!("{stem}_write"), format!("{stem}_read"));
        for name in [&write, &read] {
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
        }
        Ok(Databases {
            admin,
            server: url::Url::parse(admin_url)?,
            stem,
            write,
            read,
        })
    }

    pub fn url(&self, name: &str) -> String {
        let mut url = self.server.clone();
        url.set_path(name);
        String::from(url)
    }

    /// Host, port and user, for pgbench's flags.
    pub fn pgbench_flags(&self) -> Vec<String> {
        let host = self.server.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = self.server.port().unwrap_or(5432).to_string();
        let user = match self.server.username() {
            "" => "postgres".to_owned(),
            user => user.to_owned(),
        };
        vec!["-h".into(), host, "-p".into(), port, "-U".into(), user]
    }

    pub async fn drop_all(&self) -> anyhow::Result<()> {
        for name in [&self.write, &self.read] {
            self.admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

/// Writes `users` users and their `UserCreated` events straight into the write model, as
/// `createUser` would have (user `i` at `seeded_id(i)`, in log order); the projector then
/// builds `users_view` from the log like any other events.
pub async fn seed_write_model(write: &DatabaseConnection, users: u64) -> anyhow::Result<()> {
    let id = format!("('{ID_PREFIX}' || lpad(to_hex(i), 12, '0'))::uuid");
    write
        .execute_unprepared(&format!(
            "INSERT INTO users (id, name, email, version, created_at, updated_at) \
             SELECT {id}, 'User ' || i, 'user' || i || '@example.com', 1, now(), now() \
             FROM generate_series(1, {users}::bigint) AS i"
        ))
        .await?;
    write
        .execute_unprepared(&format!(
            "INSERT INTO user_events (user_id, version, event_type, payload, occurred_at, actor) \
             SELECT {id}, 1, 'UserCreated', \
                    json_build_object('type', 'UserCreated', 'name', 'User ' || i, \
                                      'email', 'user' || i || '@example.com'), \
                    now(), 'bench-seed' \
             FROM generate_series(1, {users}::bigint) AS i ORDER BY i"
        ))
        .await?;
    write
        .execute_unprepared("ANALYZE users, user_events")
        .await?;
    Ok(())
}

/// The projection's lag at the moment its checkpoint was read: the events after the checkpoint
/// that were stamped by then, and how long the oldest of them had waited since its command
/// stamped it (0 when none); and how long after that moment the log was read, in ms.
///
/// The log is read after the checkpoint, in another database, and this process shares its
/// runtime with the load generator: the second query can wait many ms for its turn. Measured
/// against the time of the second query, as before, that wait was counted as lag (the projector
/// had moved on meanwhile); so the lag is taken as of the checkpoint's read, by the same
/// server's clock, and the wait is reported apart.
pub async fn projection_lag(
    write: &DatabaseConnection,
    read: &DatabaseConnection,
) -> anyhow::Result<(u64, f64, f64)> {
    let checkpoint = read
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.tx_id, c.position, now.at FROM (SELECT clock_timestamp() AS at) AS now \
             LEFT JOIN projection_checkpoints AS c ON c.projection = 'users_view'",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row from the checkpoint's read"))?;
    let tx_id: i64 = checkpoint.try_get::<Option<i64>>("", "tx_id")?.unwrap_or(0);
    let position: i64 = checkpoint
        .try_get::<Option<i64>>("", "position")?
        .unwrap_or(0);
    let at: chrono::DateTime<chrono::Utc> = checkpoint.try_get("", "at")?;
    let row = write
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS events, \
                    COALESCE(EXTRACT(EPOCH FROM $3 - min(occurred_at)) * 1000, 0)::float8 AS ms, \
                    (EXTRACT(EPOCH FROM clock_timestamp() - $3) * 1000)::float8 AS gap_ms \
             FROM user_events WHERE (tx_id, position) > ($1, $2) AND occurred_at <= $3",
            [tx_id.into(), position.into(), at.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row from count(*)"))?;
    let events: i64 = row.try_get("", "events")?;
    Ok((
        events as u64,
        row.try_get("", "ms")?,
        row.try_get("", "gap_ms")?,
    ))
}

/// Waits until the projection has applied every event in the log.
pub async fn caught_up(
    write: &DatabaseConnection,
    read: &DatabaseConnection,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while projection_lag(write, read).await?.0 > 0 {
        anyhow::ensure!(
            started.elapsed() < limit,
            "projection not caught up in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(started.elapsed())
}

/// Runs SQL through psql (for what pgbench's scripts need beside the service's tables).
pub fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .args([url, "-qc", sql])
        .status()?;
    anyhow::ensure!(status.success(), "psql failed: {sql}");
    Ok(())
}

/// The CPU time of the PostgreSQL backends serving databases whose name starts with a stem.
///
/// Backends end with their connection, and an ended backend's time is gone from `/proc` (it
/// goes to the postmaster's children total, shared with every other database). So a thread
/// samples every backend of ours every 100 ms and keeps the last time seen of each; a phase's
/// cost is the growth over it, which misses at most the last 100 ms of backends that ended
/// within the phase (pgbench's, at its very end).
#[derive(Clone)]
pub struct BackendCpu {
    seen: Arc<Mutex<Seen>>,
    stem: String,
}

#[derive(Default)]
struct Seen {
    /// Last CPU time seen of each backend of ours.
    ours: HashMap<u32, Duration>,
    /// Processes that are not PostgreSQL's.
    others: std::collections::HashSet<u32>,
}

/// The backends' times at the start of a phase.
pub struct Mark(HashMap<u32, Duration>);

impl BackendCpu {
    pub fn start(stem: &str) -> BackendCpu {
        let cpu = BackendCpu {
            seen: Arc::default(),
            stem: stem.to_owned(),
        };
        let sampler = cpu.clone();
        std::thread::spawn(move || {
            loop {
                sampler.sample();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        cpu
    }

    pub fn mark(&self) -> Mark {
        self.sample();
        Mark(self.seen.lock().expect("not poisoned").ours.clone())
    }

    /// CPU time our backends used since `mark` (a backend born since counts whole).
    pub fn since(&self, mark: &Mark) -> Duration {
        self.sample();
        let seen = self.seen.lock().expect("not poisoned");
        seen.ours
            .iter()
            .map(|(pid, now)| now.saturating_sub(mark.0.get(pid).copied().unwrap_or_default()))
            .sum()
    }

    fn sample(&self) {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        let pids = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok());
        let mut seen = self.seen.lock().expect("not poisoned");
        for pid in pids {
            if seen.others.contains(&pid) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((name, Cpu { own, .. })) = parse_stat(&stat) else {
                continue;
            };
            if !seen.ours.contains_key(&pid) {
                // A backend's title names its database: "postgres: <user> <database> <client>".
                let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let title = String::from_utf8_lossy(&title);
                if name != "postgres" {
                    seen.others.insert(pid);
                }
                // A backend just forked still has the postmaster's title: look again next time.
                if !title.contains(&self.stem) {
                    continue;
                }
            }
            seen.ours.insert(pid, own);
        }
    }
}

//! The baselines: pgbench running, on the same PostgreSQL in the same run, the SQL that a
//! hand-written server would send for each scenario.

use std::process::Command;
use std::time::Duration;

use crate::postgres::{BackendCpu, ID_PREFIX};
use crate::server::own_cpu;

/// A point `SELECT` of a random seeded user, by id.
pub const POINT: &str = "\\set i random(1, 100000)\n\
    SELECT id, name, email, version, created_at, updated_at FROM users_view \
    WHERE id = ('PREFIX' || lpad(to_hex(:i::bigint), 12, '0'))::uuid;\n";

/// A random page of 20 in list order, and the total by `count(*)`.
pub const PAGE: &str = "\\set p random(1, 5000)\n\
    SELECT id, name, email, version, created_at, updated_at FROM users_view \
    ORDER BY ordinal LIMIT 20 OFFSET (:p - 1) * 20;\n\
    SELECT count(*) FROM users_view;\n";

/// One row shaped like `users`, committed on its own.
pub const INSERT: &str = "INSERT INTO bench_users (id, name, email, version, created_at, updated_at) \
    VALUES (gen_random_uuid(), 'Bench', md5(random()::text) || '@example.com', 1, now(), now());\n";

/// The table `INSERT` writes to, beside the read model (pgbench connects to one database).
pub const BENCH_USERS: &str = "CREATE TABLE IF NOT EXISTS bench_users (id uuid PRIMARY KEY, \
    name varchar(100) NOT NULL, email varchar(254) NOT NULL UNIQUE, version int NOT NULL, \
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)";

/// What a pgbench run did.
pub struct Baseline {
    pub tps: f64,
    pub transactions: u64,
    /// Latencies of a sample of the transactions (one in ten), µs, sorted.
    pub latencies: Vec<u32>,
    /// CPU time of the PostgreSQL backends of the run.
    pub database_cpu: Duration,
    /// CPU time of pgbench itself.
    pub client_cpu: Duration,
}

/// Runs `scripts` (SQL, weight) from `clients` clients on 2 threads for `phase` against
/// `database`, prepared statements, no vacuum.
pub fn run(
    flags: &[String],
    database: &str,
    scripts: &[(&str, u32)],
    clients: usize,
    phase: Duration,
    backends: &BackendCpu,
) -> anyhow::Result<Baseline> {
    let dir = tempfile::tempdir()?;
    let mut args: Vec<String> = [
        "-n",
        "-M",
        "prepared",
        "-j",
        "2",
        "-l",
        "--sampling-rate",
        "0.1",
    ]
    .map(String::from)
    .into();
    args.extend(["-c".into(), clients.to_string()]);
    args.extend(["-T".into(), phase.as_secs().to_string()]);
    args.push(format!("--log-prefix={}/tx", dir.path().display()));
    for (n, (sql, weight)) in scripts.iter().enumerate() {
        let path = dir.path().join(format!("script{n}.sql"));
        std::fs::write(&path, sql.replace("PREFIX", ID_PREFIX))?;
        args.push("-f".into());
        args.push(format!("{}@{weight}", path.display()));
    }
    let mark = backends.mark();
    let client_before = own_cpu().children;
    let output = Command::new("pgbench")
        .args(flags)
        .args(&args)
        .arg(database)
        .current_dir(dir.path())
        .output()?;
    let client_cpu = own_cpu().children.saturating_sub(client_before);
    let database_cpu = backends.since(&mark);
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|l| l.split_whitespace().next())
            .ok_or_else(|| anyhow::anyhow!("no `{prefix}` in pgbench's report: {stdout}"))
    };
    let tps: f64 = field("tps = ")?.parse()?;
    let transactions: u64 = field("number of transactions actually processed: ")?.parse()?;
    Ok(Baseline {
        tps,
        transactions,
        latencies: logged_latencies(dir.path())?,
        database_cpu,
        client_cpu,
    })
}

/// The latencies of pgbench's transaction logs (`tx.<pid>[.<thread>]`), sorted: the third field
/// of each line is the transaction's time in µs.
fn logged_latencies(dir: &std::path::Path) -> anyhow::Result<Vec<u32>> {
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("tx."));
        if !is_log {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(us) = line.split_whitespace().nth(2).and_then(|f| f.parse().ok()) {
                latencies.push(us);
            }
        }
    }
    latencies.sort_unstable();
    Ok(latencies)
}

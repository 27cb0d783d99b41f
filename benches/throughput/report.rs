//! The run's report: one markdown table of the scenarios against their baselines, then start-up,
//! memory, the write load's effect on reads, and the targets beside what was measured.

use std::fmt;
use std::time::Duration;

use crate::load::{Outcome, quantile, quantile_ms};
use crate::pgbench::Baseline;
use crate::probes::{AfterWrite, Lag};
use crate::server::Startup;

/// One phase of our load, and the CPU time each process spent on it.
pub struct Measured {
    pub outcome: Outcome,
    pub server_cpu: Duration,
    /// The backends of the bench's databases (none on SQLite).
    pub database_cpu: Option<Duration>,
    pub client_cpu: Duration,
}

pub struct Row {
    pub scenario: String,
    pub ours: Measured,
    /// What pgbench ran, and how it did.
    pub baseline: Option<(String, Baseline)>,
}

pub struct Report {
    pub phase: Duration,
    /// `/proc/loadavg` before and after the run: others' work on the machine skews the numbers.
    pub load: (String, String),
    /// Rows in order: `user(id)`, page, `createUser`, mixed, `createUser` on SQLite.
    pub rows: Vec<Row>,
    /// pgbench's `INSERT` rate, the SQLite row's baseline.
    pub sqlite_insert_tps: f64,
    pub startup: Startup,
    pub idle_kib: u64,
    /// Of `idle_kib`: the process's own memory (`RssAnon`), and pages of mapped files, mostly
    /// the binary's code (`RssFile`: shared by every process that maps them, and reclaimable).
    pub idle_split_kib: (u64, u64),
    pub peak_kib: u64,
    /// `createUser` per second while the probes ran.
    pub probed_creates: f64,
    pub lag: Lag,
    /// How long the log's newest committed event took to reach `users_view`, µs, sorted.
    pub projected: Vec<u32>,
    /// Reads right after a write, with its consistency token and without.
    pub after_write: AfterWrite,
    /// Plain reads from a client that only reads, µs, sorted.
    pub plain: Vec<u32>,
}

/// µs of `cpu` per request.
fn per(cpu: Duration, requests: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / requests.max(1) as f64
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

impl Report {
    fn ratio(&self, row: usize) -> f64 {
        let row = &self.rows[row];
        match &row.baseline {
            Some((_, b)) => row.ours.outcome.rate() / b.tps,
            None => row.ours.outcome.rate() / self.sqlite_insert_tps,
        }
    }

    fn p99_ratio(&self, row: usize) -> f64 {
        let row = &self.rows[row];
        let baseline = row.baseline.as_ref().map_or(&[][..], |(_, b)| &b.latencies);
        quantile_ms(&row.ours.outcome.latencies, 0.99) / quantile_ms(baseline, 0.99)
    }

    fn startup_ms(&self) -> f64 {
        let Startup { ready, loaded } = self.startup;
        loaded.map_or(ready, |l| l.max(ready)).as_secs_f64() * 1e3
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "\n{} s per phase, 32 clients each side; latencies p50 / p99 in ms (pgbench: one \
             transaction in ten logged); CPU in µs per request; load average before the run {}, \
             after {}\n",
            self.phase.as_secs(),
            self.load.0,
            self.load.1,
        )?;
        writeln!(
            f,
            "| scenario | cqrs-users | pgbench, same run | ratio | p50 / p99 | pgbench p50 / p99 \
             | server CPU | PostgreSQL CPU (ours / pgbench) | load generator CPU (ours / pgbench) |"
        )?;
        writeln!(f, "|---|---:|---|---:|---:|---:|---:|---:|---:|")?;
        for (n, row) in self.rows.iter().enumerate() {
            let ours = &row.ours;
            let requests = ours.outcome.requests;
            let latency =
                |l: &[u32]| format!("{:.2} / {:.2}", quantile_ms(l, 0.5), quantile_ms(l, 0.99));
            let database = ours
                .database_cpu
                .map_or("—".to_owned(), |c| format!("{:.0}", per(c, requests)));
            let (baseline, pg_latency, pg_database, pg_client) = match &row.baseline {
                Some((name, b)) => (
                    format!("{:.0} /s ({name})", b.tps),
                    latency(&b.latencies),
                    format!("{:.0}", per(b.database_cpu, b.transactions)),
                    format!("{:.0}", per(b.client_cpu, b.transactions)),
                ),
                None => (
                    format!("{:.0} /s (the `INSERT` above)", self.sqlite_insert_tps),
                    "—".to_owned(),
                    "—".to_owned(),
                    "—".to_owned(),
                ),
            };
            writeln!(
                f,
                "| {} | {:.0} /s | {baseline} | {:.2} | {} | {pg_latency} | {:.0} | {database} / {pg_database} | {:.0} / {pg_client} |",
                row.scenario,
                ours.outcome.rate(),
                self.ratio(n),
                latency(&ours.outcome.latencies),
                per(ours.server_cpu, requests),
                per(ours.client_cpu, requests),
            )?;
        }
        let Startup { ready, loaded } = self.startup;
        writeln!(
            f,
            "\nstart-up with {} users: /readyz 200 after {:.0} ms, in-memory model loaded after {}",
            crate::load::SEEDED,
            ready.as_secs_f64() * 1e3,
            loaded.map_or("(not logged)".to_owned(), |l| format!(
                "{:.0} ms",
                l.as_secs_f64() * 1e3
            )),
        )?;
        writeln!(
            f,
            "server RSS: idle after start-up {:.1} MB ({:.1} MB anonymous, {:.1} MB of mapped \
             files), peak (VmHWM) {:.1} MB",
            mb(self.idle_kib),
            mb(self.idle_split_kib.0),
            mb(self.idle_split_kib.1),
            mb(self.peak_kib)
        )?;
        let (lag, q) = (&self.lag, quantile);
        writeln!(
            f,
            "under createUser load ({:.0} /s, 32 clients): projection lag p50 {:.0} events / {:.0} ms, \
             p99 {:.0} events / {:.0} ms, max {:.0} events / {:.0} ms ({} samples; each as of its \
             checkpoint's read, the log read after it by p50 {:.1} / p99 {:.1} ms)",
            self.probed_creates,
            q(&lag.events, 0.5),
            q(&lag.ms, 0.5),
            q(&lag.events, 0.99),
            q(&lag.ms, 0.99),
            q(&lag.events, 1.0),
            q(&lag.ms, 1.0),
            lag.events.len(),
            quantile_ms(&lag.gap_us, 0.5),
            quantile_ms(&lag.gap_us, 0.99),
        )?;
        let projected = &self.projected;
        writeln!(
            f,
            "  from commit: the log's newest event reached users_view p50 {:.1} / p99 {:.1} / max \
             {:.1} ms ({} samples)",
            quantile_ms(projected, 0.5),
            quantile_ms(projected, 0.99),
            quantile_ms(projected, 1.0),
            projected.len(),
        )?;
        let (token, after) = (&self.after_write.token, &self.after_write.plain);
        let (token_p50, after_p50) = (quantile_ms(token, 0.5), quantile_ms(after, 0.5));
        let plain_p50 = quantile_ms(&self.plain, 0.5);
        writeln!(
            f,
            "  right after a create, a read with its consistencyToken p50 {token_p50:.2} ms, p99 {:.2} \
             ms ({} reads), a plain read p50 {after_p50:.2} ms, p99 {:.2} ms ({} reads); a client \
             that only reads p50 {plain_p50:.2} ms, p99 {:.2} ms ({} reads)",
            quantile_ms(token, 0.99),
            token.len(),
            quantile_ms(after, 0.99),
            after.len(),
            quantile_ms(&self.plain, 0.99),
            self.plain.len(),
        )?;

        writeln!(f, "\n| target | measured | |\n|---|---|---|")?;
        let (point, page, create, sqlite) =
            (self.ratio(0), self.ratio(1), self.ratio(2), self.ratio(4));
        let point_p99 = self.p99_ratio(0);
        let targets = [
            (
                "`user(id)` ≥ 0.6 × point `SELECT`",
                format!("{point:.2}"),
                point >= 0.6,
            ),
            (
                "`user(id)` p99 ≤ 2 × pgbench's",
                format!("{point_p99:.2} ×"),
                point_p99 <= 2.0,
            ),
            (
                "page ≥ 10 × page + `count(*)`",
                format!("{page:.1}"),
                page >= 10.0,
            ),
            (
                "`createUser` ≥ 0.4 × `INSERT`",
                format!("{create:.2}"),
                create >= 0.4,
            ),
            (
                "projection lag p99 ≤ 50 ms under that load (from commit)",
                format!(
                    "{:.0} ms ({:.0} ms from the command's stamp)",
                    quantile_ms(projected, 0.99),
                    q(&lag.ms, 0.99)
                ),
                quantile_ms(projected, 0.99) <= 50.0,
            ),
            (
                "token read p50 within 1 ms of a plain read's (both right after a create)",
                format!(
                    "+{:.2} ms (+{:.2} ms against the reading client's)",
                    token_p50 - after_p50,
                    token_p50 - plain_p50
                ),
                token_p50 - after_p50 <= 1.0,
            ),
            (
                "SQLite `createUser` ≥ 0.4 × `INSERT`",
                format!("{sqlite:.2}"),
                sqlite >= 0.4,
            ),
            (
                "idle RSS ≤ 20 MB",
                format!(
                    "{:.1} MB ({:.1} anonymous)",
                    mb(self.idle_kib),
                    mb(self.idle_split_kib.0)
                ),
                mb(self.idle_kib) <= 20.0,
            ),
            (
                "peak RSS ≤ 60 MB",
                format!("{:.1} MB", mb(self.peak_kib)),
                mb(self.peak_kib) <= 60.0,
            ),
            (
                "start-up ≤ 100 ms (ready and loaded)",
                format!("{:.0} ms", self.startup_ms()),
                self.startup_ms() <= 100.0,
            ),
        ];
        for (target, measured, ok) in targets {
            writeln!(f, "| {target} | {measured} | {} |", met(ok))?;
        }
        Ok(())
    }
}

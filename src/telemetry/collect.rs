//! The gauges read at scrape time: each pool's connections, and where the projection stands
//! against the log (a snapshot the `/metrics` handler reads from the databases just before).

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use sea_orm::{DatabaseConnection, DbBackend};

use crate::db::Databases;

/// Where the `users_view` projection stands, as its checkpoint row and the log say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectionSnapshot {
    /// The sequence number (`position`) of the last event applied; 0 before any.
    pub checkpoint: i64,
    /// The sequence number of the newest event in the log; 0 when it is empty.
    pub head: i64,
    /// Events in the log after the checkpoint.
    pub lag_events: u64,
    /// How long the oldest event the projector could apply but has not yet has waited, in
    /// seconds; 0 when it is caught up.
    pub lag_seconds: f64,
}

/// The last snapshot handed to `encode` (`None`: the databases could not be read, and the
/// gauges are left out rather than shown stale).
#[derive(Debug, Default)]
pub(super) struct Projection(Mutex<Option<ProjectionSnapshot>>);

impl Projection {
    pub(super) fn set(&self, snapshot: Option<ProjectionSnapshot>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = snapshot;
        }
    }
}

impl Collector for Projection {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(snapshot) = self.0.lock().ok().and_then(|s| *s) else {
            return Ok(());
        };
        let labels = [("projection", "users_view")];
        let gauges: [(&str, &str, Option<Unit>, f64); 4] = [
            (
                "projection_checkpoint_position",
                "Sequence number of the last event the projection applied",
                None,
                snapshot.checkpoint as f64,
            ),
            (
                "projection_log_head_position",
                "Sequence number of the newest event in the log",
                None,
                snapshot.head as f64,
            ),
            (
                "projection_lag_events",
                "Events in the log the projection has not applied yet",
                None,
                snapshot.lag_events as f64,
            ),
            (
                "projection_lag",
                "Age of the oldest event the projection could apply and has not (0: caught up)",
                Some(Unit::Seconds),
                snapshot.lag_seconds,
            ),
        ];
        for (name, help, unit, value) in gauges {
            let mut metric =
                encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Each pool's connections in use and idle, and its most, read when scraped.
pub(super) struct Pools(Databases);

impl Pools {
    pub(super) fn of(databases: &Databases) -> Self {
        Self(databases.clone())
    }
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pools")
    }
}

/// A pool's connections now: lent out, idle, and its most.
struct PoolUse {
    in_use: u32,
    idle: u32,
    max: u32,
}

/// Each pool of `databases`, once, under its first name in `Databases` order: `read` and
/// `projector` are left out when they are the `write` pool itself.
fn pool_use(databases: &Databases) -> Vec<(&'static str, PoolUse)> {
    let pools = [
        ("write", &databases.write),
        ("log", &databases.log),
        ("replay", &databases.replay),
        ("read", &databases.read),
        ("projector", &databases.projector),
    ];
    let mut seen: Vec<*const ()> = Vec::new();
    let mut found = Vec::new();
    for (name, db) in pools {
        let (identity, usage) = usage(db);
        if !seen.contains(&identity) {
            seen.push(identity);
            found.push((name, usage));
        }
    }
    found
}

/// A pool's identity (the address of its options, shared by every clone of one pool) and use.
fn usage(db: &DatabaseConnection) -> (*const (), PoolUse) {
    fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> (*const (), PoolUse) {
        let options = pool.options();
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
        let max = options.get_max_connections();
        let identity = std::ptr::from_ref(options).cast::<()>();
        (
            identity,
            PoolUse {
                in_use: size - idle,
                idle,
                max,
            },
        )
    }
    match db.get_database_backend() {
        DbBackend::Postgres => of(db.get_postgres_connection_pool()),
        _ => of(db.get_sqlite_connection_pool()),
    }
}

impl Collector for Pools {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = pool_use(&self.0);
        let help = "Connections of each database pool, by state (in_use, idle)";
        let mut metric =
            encoder.encode_descriptor("db_pool_connections", help, None, MetricType::Gauge)?;
        for (pool, usage) in &pools {
            for (state, count) in [("in_use", usage.in_use), ("idle", usage.idle)] {
                let labels = [("pool", *pool), ("state", state)];
                ConstGauge::new(i64::from(count)).encode(metric.encode_family(&labels)?)?;
            }
        }
        let help = "Most connections each database pool opens";
        let mut metric =
            encoder.encode_descriptor("db_pool_max_connections", help, None, MetricType::Gauge)?;
        for (pool, usage) in &pools {
            let labels = [("pool", *pool)];
            ConstGauge::new(i64::from(usage.max)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

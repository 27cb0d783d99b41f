//! `Lease`: which instance projects. One row per projection in the read database names a holder and
//! an expiry in the database's clock. The holder renews it with every batch, inside the batch's
//! transaction, so an instance that lost it (expired, taken over, stolen by a rebuild) can never
//! commit a batch: the renewal finds no row and the batch rolls back. A holder that dies simply
//! stops renewing; another instance takes over once the lease expires.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// A claim on one projection, by one holder.
#[derive(Debug, Clone)]
pub struct Lease {
    projection: &'static str,
    holder: String,
    ttl: Duration,
}

impl Lease {
    pub fn new(projection: &'static str, holder: String, ttl: Duration) -> Self {
        Self {
            projection,
            holder,
            ttl,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the lease if it is free, expired or already ours. `true` when we hold it now.
    pub async fn try_acquire(&self, db: &impl ConnectionTrait) -> Result<bool, DbErr> {
        self.upsert(db, true).await
    }

    /// Takes the lease whoever holds it (a rebuild preempting the running projector).
    pub async fn steal(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        self.upsert(db, false).await.map(|_| ())
    }

    /// Extends the lease if we still hold it. Inside a batch's transaction this is the fence.
    pub async fn renew(&self, db: &impl ConnectionTrait) -> Result<bool, DbErr> {
        let backend = db.get_database_backend();
        let sql = format!(
            "UPDATE projection_leases SET expires_at_ms = {now} + {ttl} \
             WHERE projection = {p1} AND holder = {p2}",
            now = now_ms(backend),
            ttl = self.ttl_ms(),
            p1 = param(backend, 1),
            p2 = param(backend, 2),
        );
        self.execute(db, sql).await
    }

    /// Gives the lease up (at shutdown), so another instance takes over at once.
    pub async fn release(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        let sql = format!(
            "UPDATE projection_leases SET expires_at_ms = 0 WHERE projection = {} AND holder = {}",
            param(backend, 1),
            param(backend, 2)
        );
        self.execute(db, sql).await.map(|_| ())
    }

    async fn upsert(&self, db: &impl ConnectionTrait, only_if_free: bool) -> Result<bool, DbErr> {
        let backend = db.get_database_backend();
        let now = now_ms(backend);
        let condition = if only_if_free {
            format!(
                " WHERE projection_leases.holder = excluded.holder \
                  OR projection_leases.expires_at_ms < {now}"
            )
        } else {
            String::new()
        };
        let sql = format!(
            "INSERT INTO projection_leases (projection, holder, expires_at_ms) \
             VALUES ({p1}, {p2}, {now} + {ttl}) \
             ON CONFLICT (projection) DO UPDATE \
             SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms{condition}",
            p1 = param(backend, 1),
            p2 = param(backend, 2),
            ttl = self.ttl_ms(),
        );
        self.execute(db, sql).await
    }

    /// Runs `sql` with `$1` (or the first `?`) the projection and `$2` the holder; `true` when
    /// it changed the lease row.
    async fn execute(&self, db: &impl ConnectionTrait, sql: String) -> Result<bool, DbErr> {
        let statement = Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [self.projection.into(), self.holder.clone().into()],
        );
        Ok(db.execute_raw(statement).await?.rows_affected() == 1)
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// The database's clock in milliseconds since the Unix epoch, so instances' clocks never matter.
pub(super) fn now_ms(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        _ => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    }
}

fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

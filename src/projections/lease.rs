//! `Lease`: which instance projects. One row per projection in the read database names a holder and
//! an expiry in the database's clock. The holder renews it with every batch, inside the batch's
//! transaction, so an instance that lost it (expired, taken over, stolen by a rebuild) can never
//! commit a batch: the renewal finds no row and the batch rolls back. A holder that dies simply
//! stops renewing; another instance takes over once the lease expires.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter};

use crate::entities::projection_leases;

/// How the holder names of rebuilds begin (`rebuild-<uuid>`).
const REBUILD_PREFIX: &str = "rebuild-";

/// Whether `holder` is a rebuild (`projections rebuild`), which takes the lease from the running
/// projector for its swap and hands it back: a hand-over, not a failure.
pub fn is_rebuild(holder: &str) -> bool {
    holder.starts_with(REBUILD_PREFIX)
}

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

    /// The lease a rebuild takes, under a holder name of its own.
    pub fn for_rebuild(projection: &'static str, ttl: Duration) -> Self {
        let holder = format!("{REBUILD_PREFIX}{}", uuid::Uuid::now_v7());
        Self::new(projection, holder, ttl)
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The projection this lease is on.
    pub(super) fn projection(&self) -> &'static str {
        self.projection
    }

    /// Who holds (or last held) the lease, expired or not.
    pub async fn current_holder(&self, db: &impl ConnectionTrait) -> Result<Option<String>, DbErr> {
        let row = projection_leases::Entity::find_by_id(self.projection.to_owned())
            .one(db)
            .await?;
        Ok(row.map(|lease| lease.holder))
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
        let expires = now_ms(db.get_database_backend()).add(self.ttl_ms());
        self.update_ours(db, expires).await
    }

    /// Gives the lease up (at shutdown), so another instance takes over at once.
    pub async fn release(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        self.update_ours(db, Expr::value(0)).await.map(|_| ())
    }

    /// Sets the expiry of the lease if we hold it; `true` when we did.
    async fn update_ours(&self, db: &impl ConnectionTrait, expires: Expr) -> Result<bool, DbErr> {
        let updated = projection_leases::Entity::update_many()
            .col_expr(projection_leases::Column::ExpiresAtMs, expires)
            .filter(projection_leases::Column::Projection.eq(self.projection))
            .filter(projection_leases::Column::Holder.eq(&self.holder))
            .exec(db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Writes us in as the holder, expiring `ttl` from now: `only_if_free`, when the lease is
    /// ours already or has expired. `true` when the row changed.
    async fn upsert(&self, db: &impl ConnectionTrait, only_if_free: bool) -> Result<bool, DbErr> {
        let now = now_ms(db.get_database_backend());
        let mut on_conflict = OnConflict::column(projection_leases::Column::Projection);
        on_conflict.update_columns([
            projection_leases::Column::Holder,
            projection_leases::Column::ExpiresAtMs,
        ]);
        if only_if_free {
            let held = |column| Expr::col((projection_leases::Entity, column));
            on_conflict.action_and_where(
                held(projection_leases::Column::Holder)
                    .eq(&self.holder)
                    .or(held(projection_leases::Column::ExpiresAtMs).lt(now.clone())),
            );
        }
        let upsert = Query::insert()
            .into_table(projection_leases::Entity)
            .columns([
                projection_leases::Column::Projection,
                projection_leases::Column::Holder,
                projection_leases::Column::ExpiresAtMs,
            ])
            .values_panic([
                self.projection.into(),
                self.holder.clone().into(),
                now.add(self.ttl_ms()),
            ])
            .on_conflict(on_conflict)
            .to_owned();
        Ok(db.execute(&upsert).await?.rows_affected() == 1)
    }

    pub(super) fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// PostgreSQL's clock in milliseconds since the Unix epoch, as SQL (see [`now_ms`]).
pub(super) const POSTGRES_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The database's clock in milliseconds since the Unix epoch, so instances' clocks never matter.
/// The one expression the query builder cannot write for both engines.
pub(super) fn now_ms(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Postgres => POSTGRES_NOW_MS,
        _ => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    })
}

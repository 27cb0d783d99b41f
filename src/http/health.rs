//! `/healthz` (the process answers) and `/readyz` (both databases answer, migrations applied, projector healthy).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use migration::{MigratorTrait, ReadMigrator, WriteMigrator};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::projections::ProjectionProgress;

/// How long a readiness check waits for a database.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` looks at.
#[derive(Clone)]
pub struct Readiness {
    pub write_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub progress: Arc<ProjectionProgress>,
}

pub(super) async fn alive() -> &'static str {
    "ok"
}

pub(super) async fn ready(
    State(readiness): State<Readiness>,
) -> (StatusCode, Json<serde_json::Value>) {
    let (write, read) = tokio::join!(
        check::<WriteMigrator>(&readiness.write_db),
        check::<ReadMigrator>(&readiness.read_db)
    );
    let projector = match readiness.progress.failure() {
        None => Ok(()),
        // The cause is in the log; this endpoint is public, so it only says where to look.
        Some(_) => Err("failing; see the log".to_owned()),
    };
    let ready = write.is_ok() && read.is_ok() && projector.is_ok();
    let show = |r: Result<(), String>| r.err().unwrap_or_else(|| "ok".to_owned());
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "writeDatabase": show(write),
        "readDatabase": show(read),
        "projector": show(projector),
        "checkpoint": readiness.progress.checkpoint().to_string(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// The database answers and has no pending migration.
async fn check<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, M::get_pending_migrations(db)).await {
        Ok(Ok(pending)) if pending.is_empty() => Ok(()),
        Ok(Ok(pending)) => Err(format!("{} migrations pending", pending.len())),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err("unreachable".to_owned())
        }
        Err(_) => Err("timed out".to_owned()),
    }
}

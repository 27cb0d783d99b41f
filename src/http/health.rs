//! `/healthz` (the process answers) and `/readyz` (both databases answer, migrations applied, projector healthy).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use migration::{MigratorTrait, ReadMigrator, WriteMigrator};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::projections;

/// How long a readiness check waits for a database.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` looks at.
#[derive(Clone)]
pub struct Readiness {
    pub write_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
}

pub(super) async fn alive() -> &'static str {
    "ok"
}

/// 503 when this instance cannot serve (a database unreachable, migrations pending). A failing
/// projection leaves reads serving older data, so it is reported (`"projection": "failing"`)
/// without taking every instance out of service; the cause is in the log and in
/// `cqrs-users projections status`.
pub(super) async fn ready(
    State(readiness): State<Readiness>,
) -> (StatusCode, Json<serde_json::Value>) {
    let (write, read) = tokio::join!(
        check::<WriteMigrator>(&readiness.write_db),
        check::<ReadMigrator>(&readiness.read_db)
    );
    let projection = match &read {
        Ok(()) => projection_state(&readiness.read_db).await,
        Err(_) => json!("unknown"),
    };
    let ready = write.is_ok() && read.is_ok();
    let show = |r: Result<(), String>| r.err().unwrap_or_else(|| "ok".to_owned());
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "writeDatabase": show(write),
        "readDatabase": show(read),
        "projection": projection,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn projection_state(read_db: &DatabaseConnection) -> serde_json::Value {
    match projections::recorded(read_db).await {
        Ok((checkpoint, failure)) => json!({
            "state": match failure {
                Some(_) => "failing; see the log or `cqrs-users projections status`",
                None => "ok",
            },
            "checkpoint": checkpoint.to_string(),
        }),
        Err(_) => json!("unknown"),
    }
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

//! `GET /metrics`: the server's metrics in Prometheus' text format, on the main address (beside
//! `/healthz`, outside the load limits) or on `--metrics-listen`; and the middleware that counts
//! every HTTP request by route (axum's matched pattern, never the raw path) and status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::projections;
use crate::telemetry::{self, Metrics};

/// How long a scrape waits for the databases before it answers without the projection's gauges.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/metrics` reads: the server's metrics, and the databases the projection's gauges are
/// read from (the log readers' pool and the read pool).
#[derive(Clone)]
pub struct Scrape {
    pub metrics: Arc<Metrics>,
    pub log_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    /// Served on the main address (no `--metrics-listen`).
    pub on_main: bool,
}

/// The router of `--metrics-listen`: `/metrics` alone.
pub fn router(scrape: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(scrape_metrics))
        .with_state(scrape)
}

/// Every metric, with the projection read from the databases now (left out if they do not
/// answer in time: a scrape still tells how the server itself is doing).
pub(super) async fn scrape_metrics(State(scrape): State<Scrape>) -> Response {
    let snapshot = projections::snapshot(&scrape.log_db, &scrape.read_db);
    let snapshot = match tokio::time::timeout(SNAPSHOT_TIMEOUT, snapshot).await {
        Ok(Ok(snapshot)) => Some(snapshot),
        Ok(Err(err)) => {
            tracing::debug!(error = %format!("{err:#}"), "metrics: cannot read the projection");
            None
        }
        Err(_) => None,
    };
    let content_type = HeaderValue::from_static(telemetry::CONTENT_TYPE);
    let text = scrape.metrics.encode(snapshot);
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Counts the request and its duration (to the response's head) by method, route and status.
pub(super) async fn count(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map(MatchedPath::as_str);
    metrics.http_request(method.as_str(), route, status, started.elapsed());
    response
}

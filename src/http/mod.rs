//! HTTP: the axum router and its state; `/graphql`, the playground at `/`, `/healthz`, `/readyz`.

mod graphql;
mod health;
mod playground;
mod ws;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::graphql::AppSchema;

pub use health::Readiness;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub readiness: Readiness,
}

impl axum::extract::FromRef<AppState> for AppSchema {
    fn from_ref(state: &AppState) -> Self {
        state.schema.clone()
    }
}

impl axum::extract::FromRef<AppState> for Readiness {
    fn from_ref(state: &AppState) -> Self {
        state.readiness.clone()
    }
}

/// The routes, each request in a `request` span under the serving `instance` span, so every line
/// it logs names the instance (several may run, and share one log).
pub fn router(state: AppState, instance: tracing::Span) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(move |request: &Request<Body>| {
        tracing::info_span!(
            parent: &instance,
            "request",
            method = %request.method(),
            path = %request.uri().path()
        )
    });
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/", get(playground::index))
        .route("/playground/{*path}", get(playground::asset))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .layer(trace)
        .with_state(state)
}

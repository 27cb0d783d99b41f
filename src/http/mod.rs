//! HTTP: the axum router and its state; `/graphql`, the playground at `/`, `/healthz`, `/readyz`;
//! the limits every request meets, and serving it all with hyper.

mod body;
mod graphql;
mod health;
mod playground;
mod refusal;
mod serve;
mod ws;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::Request;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::config::HttpLimits;
use crate::graphql::AppSchema;

pub use health::Readiness;
pub use serve::serve;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub readiness: Readiness,
    pub limits: HttpLimits,
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

impl axum::extract::FromRef<AppState> for HttpLimits {
    fn from_ref(state: &AppState) -> Self {
        state.limits
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
    // Beyond `--max-in-flight` requests, the next is refused at once (load shed), not queued;
    // each has `--request-deadline-ms` from its headers to its answer (a WebSocket, until the
    // upgrade). The health checks stay outside, so an overloaded instance still answers them.
    let bounded = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(refusal::overloaded_or_late))
        .load_shed()
        .concurrency_limit(state.limits.max_in_flight())
        .timeout(state.limits.request_deadline());
    // Every refusal on `/graphql` or an unknown path is a GraphQL error; the playground's own
    // 404 stays plain.
    let api = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .fallback(refusal::not_found)
        .layer(axum::middleware::from_fn(refusal::as_graphql_error));
    let served = Router::new()
        .route("/", get(playground::index))
        .route("/playground/{*path}", get(playground::asset))
        .merge(api)
        .layer(bounded);
    Router::new()
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .merge(served)
        .layer(trace)
        .with_state(state)
}

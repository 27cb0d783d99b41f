//! HTTP: the axum router and its state; `/graphql`, the playground at `/`, `/healthz`, `/readyz`,
//! `/metrics`; the limits every request meets, the browser rules (`browsers.rs`), each request's
//! id, span and count, and serving it all with hyper.

mod body;
mod browsers;
mod graphql;
mod health;
mod identify;
pub mod metrics;
mod negotiate;
mod playground;
mod refusal;
mod serve;
mod ws;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::Request;
use axum::routing::get;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::config::HttpLimits;
use crate::domain::CorrelationId;
use crate::graphql::AppSchema;
use crate::telemetry;

pub use browsers::Browsers;
pub use health::Readiness;
pub use identify::Gate;
pub use metrics::Scrape;
pub use serve::{bind, resolve, serve};

/// What the handlers share.
pub struct AppState {
    pub schema: AppSchema,
    pub readiness: Readiness,
    pub limits: HttpLimits,
    pub browsers: Arc<Browsers>,
    pub gate: Arc<Gate>,
    pub scrape: Scrape,
}

/// The router's state: axum clones a route's state for every request, and a clone of
/// `AppState` itself (its schema, pools and metrics) was 3% of a point read's CPU.
#[derive(Clone)]
struct Shared(Arc<AppState>);

impl std::ops::Deref for Shared {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl axum::extract::FromRef<Shared> for Scrape {
    fn from_ref(state: &Shared) -> Self {
        state.scrape.clone()
    }
}

impl axum::extract::FromRef<Shared> for AppSchema {
    fn from_ref(state: &Shared) -> Self {
        state.schema.clone()
    }
}

impl axum::extract::FromRef<Shared> for Readiness {
    fn from_ref(state: &Shared) -> Self {
        state.readiness.clone()
    }
}

impl axum::extract::FromRef<Shared> for Arc<Browsers> {
    fn from_ref(state: &Shared) -> Self {
        state.browsers.clone()
    }
}

impl axum::extract::FromRef<Shared> for Arc<Gate> {
    fn from_ref(state: &Shared) -> Self {
        state.gate.clone()
    }
}

impl axum::extract::FromRef<Shared> for HttpLimits {
    fn from_ref(state: &Shared) -> Self {
        state.limits
    }
}

/// The routes, each request in a `request` span under the serving `instance` span, so every line
/// it logs names the instance (several may run, and share one log) and the request's id. Its
/// trace is the one its `traceparent` names, if any.
pub fn router(state: AppState, instance: tracing::Span) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(move |request: &Request<Body>| {
        let id = request.extensions().get::<CorrelationId>();
        let span = tracing::info_span!(
            parent: &instance,
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %id.map_or("", CorrelationId::as_str),
        );
        telemetry::traces::adopt_remote_parent(&span, request.headers());
        span
    });
    // Beyond `--max-in-flight` requests, the next is refused at once (load shed), not queued;
    // each has `--request-deadline-ms` from its headers to its answer (a WebSocket, until the
    // upgrade). The health checks stay outside, so an overloaded instance still answers them.
    let bounded = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(refusal::overloaded_or_late))
        .load_shed()
        // Global: axum layers each route and method apart, and a plain concurrency limit would
        // give each its own count.
        .layer(GlobalConcurrencyLimitLayer::new(
            state.limits.max_in_flight(),
        ))
        .timeout(state.limits.request_deadline());
    // Every refusal on `/graphql` or an unknown path is a GraphQL error; the playground's own
    // 404 stays plain. Each GraphQL request learns who calls (`identify`) before it runs.
    let identify = axum::middleware::from_fn_with_state(state.gate.clone(), identify::identify);
    let api = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .layer(identify)
        .fallback(refusal::not_found)
        .layer(axum::middleware::from_fn(refusal::as_graphql_error));
    // Without the playground, `/` falls to the GraphQL 404 too.
    let playground = match state.browsers.playground {
        true => Router::new()
            .route("/", get(playground::index))
            .route("/playground/{*path}", get(playground::asset))
            .layer(axum::middleware::from_fn(browsers::playground_headers)),
        false => Router::new(),
    };
    let served = playground.merge(api).layer(bounded);
    let mut routes = Router::new()
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready));
    if state.scrape.on_main {
        routes = routes.route("/metrics", get(metrics::scrape_metrics));
    }
    let mut routes = routes.merge(served);
    if let Some(cors) = state.browsers.cors() {
        routes = routes.layer(cors);
    }
    // The Host check comes first, on every route: a rebinding page learns nothing.
    let host = axum::middleware::from_fn_with_state(state.browsers.clone(), browsers::check_host);
    let count = axum::middleware::from_fn_with_state(state.scrape.metrics.clone(), metrics::count);
    routes
        .layer(host)
        .layer(count)
        .layer(trace)
        .layer(axum::middleware::from_fn(identify::request_id))
        .with_state(Shared(Arc::new(state)))
}

//! Metrics: one Prometheus registry per server (`Metrics`), so instances sharing a process (the
//! tests) count apart; what each part records; the text `/metrics` answers.
//!
//! Labels are bounded: routes are axum's matched patterns, methods and messages a fixed set,
//! GraphQL operation names the first `MAX_OPERATION_NAMES` seen (then `other`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::db::Databases;
use crate::telemetry::collect::{Pools, Projection, ProjectionSnapshot};

/// Distinct GraphQL operation names labelled per server; later names count as `other`.
pub const MAX_OPERATION_NAMES: usize = 100;

/// The `Content-Type` of what `encode` writes: Prometheus' text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
    r#type: &'static str,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DispatchLabels {
    kind: &'static str,
    message: &'static str,
    outcome: &'static str,
}

type Timed<L> = (Family<L, Counter>, Family<L, Histogram>);

/// A server's metrics: what it counts, and the registry `/metrics` encodes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: Timed<HttpLabels>,
    operations: Timed<OperationLabels>,
    dispatches: Timed<DispatchLabels>,
    operation_names: Mutex<HashSet<String>>,
    projector: ProjectorMetrics,
    projection: Arc<Projection>,
    live: LiveGauges,
}

/// What the projector of one server records: its batches, failures and whether it leads.
#[derive(Debug, Clone)]
pub struct ProjectorMetrics {
    batch_events: Histogram,
    batch_seconds: Histogram,
    applied: Counter,
    failures: Counter,
    leading: Gauge,
}

/// Open WebSockets and subscriptions of one server.
#[derive(Debug, Clone, Default)]
pub struct LiveGauges {
    pub websockets: Gauge,
    pub subscriptions: Gauge,
}

/// Latency buckets, in seconds: 1 ms to 10 s.
fn latency() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// A counter and a latency histogram over the same labels: `[name, help]` of each.
fn timed<L>(registry: &mut Registry, [count, latency_of]: [[&str; 2]; 2]) -> Timed<L>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let duration = Family::<L, Histogram>::new_with_constructor(latency as fn() -> Histogram);
    let [name, help] = count;
    let counter = Family::<L, Counter>::default();
    registry.register(name, help, counter.clone());
    let [name, help] = latency_of;
    registry.register_with_unit(name, help, Unit::Seconds, duration.clone());
    (counter, duration)
}

impl Metrics {
    /// The metrics of a server whose pools are `databases`.
    pub fn new(databases: &Databases) -> Arc<Self> {
        let mut registry = Registry::with_prefix("cqrs");
        let http = timed(
            &mut registry,
            [
                [
                    "http_requests",
                    "HTTP requests answered, by route pattern and status",
                ],
                [
                    "http_request_duration",
                    "Time to answer an HTTP request (its head)",
                ],
            ],
        );
        let operations = timed(
            &mut registry,
            [
                [
                    "graphql_operations",
                    "GraphQL operations, by name, type and outcome",
                ],
                [
                    "graphql_operation_duration",
                    "Time a GraphQL operation took",
                ],
            ],
        );
        let dispatches = timed(
            &mut registry,
            [
                [
                    "dispatches",
                    "Commands and queries dispatched on the buses, by outcome",
                ],
                [
                    "dispatch_duration",
                    "Time a command or query took, from dispatch to result",
                ],
            ],
        );
        let projector = ProjectorMetrics {
            batch_events: Histogram::new(exponential_buckets(1.0, 4.0, 7)),
            batch_seconds: latency(),
            applied: Counter::default(),
            failures: Counter::default(),
            leading: Gauge::default(),
        };
        let help = "Events per batch this server's projector applied";
        registry.register(
            "projector_batch_events",
            help,
            projector.batch_events.clone(),
        );
        let help = "How long each batch of this server's projector took, commit included";
        registry.register_with_unit(
            "projector_batch_duration",
            help,
            Unit::Seconds,
            projector.batch_seconds.clone(),
        );
        let help = "Events this server's projector applied";
        registry.register("projector_events_applied", help, projector.applied.clone());
        let help = "Batches of this server's projector that failed and were rolled back";
        registry.register("projector_failures", help, projector.failures.clone());
        let help = "1 while this server holds the projection lease (projects), else 0";
        registry.register("projector_leading", help, projector.leading.clone());
        let live = LiveGauges::default();
        let help = "WebSockets open on this server";
        registry.register("websockets_open", help, live.websockets.clone());
        let help = "Subscriptions being served by this server";
        registry.register("subscriptions_open", help, live.subscriptions.clone());
        let projection = Arc::new(Projection::default());
        registry.register_collector(Box::new(projection.clone()));
        registry.register_collector(Box::new(Pools::of(databases)));
        Arc::new(Self {
            registry,
            http,
            operations,
            dispatches,
            operation_names: Mutex::default(),
            projector,
            projection,
            live,
        })
    }

    /// Everything, in Prometheus' text format, with `snapshot` as the projection's state (its
    /// gauges are left out when it could not be read).
    pub fn encode(&self, snapshot: Option<ProjectionSnapshot>) -> String {
        self.projection.set(snapshot);
        let mut text = String::new();
        // Writing to a String fails only if an encoder does, and ours do not.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// One HTTP request answered: `route` is the matched pattern (`None`: no route matched).
    pub fn http_request(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        let labels = HttpLabels {
            method: known_method(method),
            route: route.unwrap_or("unmatched").to_owned(),
            status,
        };
        observe(&self.http, &labels, took);
    }

    /// One GraphQL operation: `name` as the document names it (`None`: anonymous or unknown),
    /// `kind` (`query`, `mutation`, `subscription`, or `unknown` if it did not parse), `outcome`
    /// (`ok`, or the first error's code).
    pub fn graphql_operation(
        &self,
        name: Option<&str>,
        kind: &'static str,
        outcome: &str,
        took: Duration,
    ) {
        let labels = OperationLabels {
            operation: self.operation_label(name),
            r#type: kind,
            outcome: code_label(outcome),
        };
        observe(&self.operations, &labels, took);
    }

    pub(super) fn dispatch(
        &self,
        kind: &'static str,
        message: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        let labels = DispatchLabels {
            kind,
            message,
            outcome,
        };
        observe(&self.dispatches, &labels, took);
    }

    pub fn projector(&self) -> ProjectorMetrics {
        self.projector.clone()
    }

    pub fn live(&self) -> LiveGauges {
        self.live.clone()
    }

    /// `name` if it is among the first `MAX_OPERATION_NAMES` this server saw, else `other`.
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| n.len() <= 64) else {
            return name.map_or("anonymous", |_| "other").to_owned();
        };
        let Ok(mut seen) = self.operation_names.lock() else {
            return "other".to_owned();
        };
        if seen.contains(name) || seen.len() < MAX_OPERATION_NAMES && seen.insert(name.to_owned()) {
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }
}

impl ProjectorMetrics {
    /// A batch of `events` applied and committed in `took`.
    pub fn batch(&self, events: usize, took: Duration) {
        self.batch_events.observe(events as f64);
        self.batch_seconds.observe(took.as_secs_f64());
        self.applied.inc_by(events as u64);
    }

    pub fn failed(&self) {
        self.failures.inc();
    }

    pub fn leading(&self, leading: bool) {
        self.leading.set(i64::from(leading));
    }
}

impl LiveGauges {
    /// Counts one more open WebSocket until the returned guard is dropped.
    pub fn websocket(&self) -> Open {
        Open::new(&self.websockets)
    }

    /// Counts one more subscription until the returned guard is dropped.
    pub fn subscription(&self) -> Open {
        Open::new(&self.subscriptions)
    }
}

/// One open thing, counted in its gauge while this lives.
#[derive(Debug)]
pub struct Open(Gauge);

impl Open {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn observe<L: Clone + std::hash::Hash + Eq>(family: &Timed<L>, labels: &L, took: Duration) {
    family.0.get_or_create(labels).inc();
    family.1.get_or_create(labels).observe(took.as_secs_f64());
}

/// The standard methods by name; anything else is `other`.
fn known_method(method: &str) -> &'static str {
    const METHODS: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

/// An error code as this server writes them (`SCREAMING_SNAKE`), or `ok`; anything else `error`.
fn code_label(code: &str) -> String {
    let well_formed = code.len() <= 40
        && !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if code == "ok" || well_formed {
        code.to_owned()
    } else {
        "error".to_owned()
    }
}

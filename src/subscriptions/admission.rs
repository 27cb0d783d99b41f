//! How many subscriber connections one instance serves at once, and the limits each runs under.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::WsLimits;
use crate::telemetry::{LiveGauges, Open};

/// The instance's door for subscriber connections: a fixed number of places, and the limits a
/// connection that got one must keep (`config::WsLimits`).
#[derive(Clone)]
pub struct Admission {
    limits: WsLimits,
    places: Arc<Semaphore>,
    /// Where open connections are counted (`cqrs_websockets_open`).
    pub(super) gauges: LiveGauges,
}

/// One connection's place; it is free again when this is dropped.
pub struct Admitted {
    _place: OwnedSemaphorePermit,
    _open: Open,
}

impl Admission {
    pub fn new(limits: WsLimits) -> Self {
        let places = usize::try_from(limits.ws_max_connections).unwrap_or(usize::MAX);
        Self {
            limits,
            places: Arc::new(Semaphore::new(places.min(Semaphore::MAX_PERMITS))),
            gauges: LiveGauges::default(),
        }
    }

    pub fn limits(&self) -> &WsLimits {
        &self.limits
    }

    /// A place for one more connection, or `None` when all are taken (nobody waits for one).
    pub fn admit(&self) -> Option<Admitted> {
        self.places
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|place| Admitted {
                _place: place,
                _open: self.gauges.websocket(),
            })
    }
}

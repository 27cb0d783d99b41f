//! Live events: replaying the log after a position, then following it as it grows.
//!
//! Each instance runs one tail task that reads new events in log order (`events::read_after`, so
//! nothing that may still commit earlier is ever passed) and broadcasts them on a bounded channel.
//! A subscriber first subscribes to that channel, then replays the log from its position, then
//! takes live events, dropping those it already replayed: since the tail only broadcasts what a
//! later log read also sees, the switch has no gap and no duplicate. A subscriber that falls more
//! than the channel's capacity behind is not waited for: it goes back to reading the log from
//! where it stopped, so a slow subscriber never stalls the tail or the others.
//!
//! Replays read through their own small pool (`Databases::replay`), never the tail's: a flood of
//! subscribers queues there, each read bounded by its wait, and fails only its own subscription.
//! `Admission` bounds how many subscriber connections the instance serves. Subscribing needs
//! `users:read`, checked once here.

mod admission;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::domain::{Denied, Identity, LogPosition};
use crate::events::{self, Pace, ReadError, RecordedEvent};
use crate::signals::Wakeup;
use crate::telemetry::LiveGauges;

pub use admission::{Admission, Admitted};

/// Events read from the log per query.
const BATCH: u64 = 500;

/// The live feed of this instance: hands out subscriptions, and `tail` keeps it fed.
#[derive(Clone)]
pub struct LiveEvents {
    /// The tail's connections to the log.
    db: DatabaseConnection,
    /// Subscribers' connections to the log, for replays.
    replays: DatabaseConnection,
    live: broadcast::Sender<Arc<RecordedEvent>>,
    admission: Admission,
    shutdown: CancellationToken,
    /// Where open subscriptions are counted (`cqrs_subscriptions_open`).
    gauges: LiveGauges,
}

impl LiveEvents {
    /// `db` (the tail's) and `replays` (subscribers') are pools on the write database, the log;
    /// `buffer` is how many live events are kept for subscribers (one further behind reads the
    /// log instead). Streams end when `shutdown` is cancelled (the server's shutdown: clients get
    /// `complete`).
    pub fn new(
        db: DatabaseConnection,
        replays: DatabaseConnection,
        buffer: usize,
        admission: Admission,
        shutdown: CancellationToken,
    ) -> Self {
        let (live, _) = broadcast::channel(buffer.max(1));
        Self {
            db,
            replays,
            live,
            admission,
            shutdown,
            gauges: LiveGauges::default(),
        }
    }

    /// Counts open WebSockets and subscriptions in `gauges` (a server's metrics).
    pub fn counted_in(mut self, gauges: LiveGauges) -> Self {
        self.admission.gauges = gauges.clone();
        self.gauges = gauges;
        self
    }

    /// Who may connect to subscribe, and the limits each connection keeps.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Every event after `after`, in log order, then each new one as it is committed, for a
    /// caller who may read.
    pub fn after(
        &self,
        caller: &Identity,
        after: LogPosition,
    ) -> Result<impl Stream<Item = Result<Arc<RecordedEvent>, ReadError>> + Send + use<>, Denied>
    {
        caller.may_read()?;
        // Counted open while the stream lives (the in-memory model's feed is not a subscriber).
        let open = self.gauges.subscription();
        let stream = self.replayed_then_live(self.replays.clone(), after);
        Ok(stream.map(move |event| {
            let _open = &open;
            event
        }))
    }

    /// Every event after `after`, then each new one, for this instance's own in-memory read
    /// model: its replays read through the tail's pool, not the subscribers'.
    pub fn feed(
        &self,
        after: LogPosition,
    ) -> impl Stream<Item = Result<Arc<RecordedEvent>, ReadError>> + Send + use<> {
        self.replayed_then_live(self.db.clone(), after)
    }

    fn replayed_then_live(
        &self,
        db: DatabaseConnection,
        after: LogPosition,
    ) -> impl Stream<Item = Result<Arc<RecordedEvent>, ReadError>> + Send + use<> {
        let (live, shutdown) = (self.live.clone(), self.shutdown.clone());
        async_stream::try_stream! {
            let mut cursor = after;
            'replay: loop {
                // Subscribe before reading the log: whatever the tail sends from now on is either
                // in that read or in this receiver.
                let mut receiver = live.subscribe();
                loop {
                    let batch = events::read_after(&db, cursor, BATCH).await?;
                    let full = batch.len() as u64 == BATCH;
                    for event in batch {
                        cursor = event.position;
                        yield Arc::new(event);
                    }
                    if !full {
                        break;
                    }
                }
                loop {
                    let received = tokio::select! {
                        received = receiver.recv() => received,
                        () = shutdown.cancelled() => return,
                    };
                    match received {
                        Ok(event) if event.position <= cursor => {}
                        Ok(event) => {
                            cursor = event.position;
                            yield event;
                        }
                        Err(RecvError::Lagged(missed)) => {
                            tracing::debug!(missed, "subscriber fell behind; catching up from the log");
                            continue 'replay;
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            }
        }
    }

    /// Follows the log after `start` (its visible head when the server started) and broadcasts
    /// each new event, until `stop`. Reads when `appended` wakes it, and every `poll` regardless.
    pub async fn tail(
        self,
        appended: Wakeup,
        start: LogPosition,
        poll: Duration,
        stop: CancellationToken,
    ) {
        const RETRY: Duration = Duration::from_millis(500);
        let mut pace = Pace::new(&appended, poll);
        let mut cursor = start;
        while !stop.is_cancelled() {
            let pause = match self.broadcast_after(&mut cursor).await {
                Ok(read) if read == BATCH => {
                    pace.moved_on();
                    continue;
                }
                Ok(read) => {
                    if read > 0 {
                        pace.moved_on();
                    }
                    pace.caught_up(&self.db, cursor).await
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading the log for subscribers failed; retrying");
                    RETRY
                }
            };
            pace.wait(pause, &stop).await;
        }
    }

    /// Broadcasts the next batch after `cursor` and moves it; how many events that was.
    async fn broadcast_after(&self, cursor: &mut LogPosition) -> Result<u64, ReadError> {
        let batch = events::read_after(&self.db, *cursor, BATCH).await?;
        let read = batch.len() as u64;
        for event in batch {
            *cursor = event.position;
            // No receiver is not an error: nobody is subscribed right now.
            let _ = self.live.send(Arc::new(event));
        }
        Ok(read)
    }
}

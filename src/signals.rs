//! Wake-ups: "the log grew" and "a projection moved", raised in this process and, on PostgreSQL,
//! by every instance through LISTEN/NOTIFY (the triggers in `migration`), so followers of the log
//! sleep until there is something to read instead of polling.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::LogPosition;
use crate::projections::{ProjectionProgress, USERS_VIEW};

/// Channel on which `user_events` announces appends (payload empty).
const LOG_CHANNEL: &str = "cqrs_user_events";
/// Channel on which `projection_checkpoints` announces moves (payload `projection:token`).
const PROJECTION_CHANNEL: &str = "cqrs_projection";

/// A wake-up any number of tasks can wait for; none is lost between two waits.
#[derive(Clone, Debug)]
pub struct Wakeup(Arc<watch::Sender<u64>>);

impl Default for Wakeup {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Wakeup {
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A waiter: `changed().await` returns once per burst of wakes after the last one seen.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Relays PostgreSQL notifications until `shutdown`: appends wake `appended`, projection moves
/// advance `progress`. Reconnects by itself; after a reconnect it wakes everything once, since
/// notifications sent meanwhile are lost.
pub async fn relay_postgres_notifications(
    write_url: String,
    read_url: String,
    appended: Wakeup,
    progress: Arc<ProjectionProgress>,
    shutdown: CancellationToken,
) {
    let same_database = write_url == read_url;
    let log = listen(
        write_url,
        if same_database {
            &[LOG_CHANNEL, PROJECTION_CHANNEL][..]
        } else {
            &[LOG_CHANNEL][..]
        },
        &appended,
        &progress,
        &shutdown,
    );
    if same_database {
        log.await;
    } else {
        let projection = listen(
            read_url,
            &[PROJECTION_CHANNEL],
            &appended,
            &progress,
            &shutdown,
        );
        tokio::join!(log, projection);
    }
}

async fn listen(
    url: String,
    channels: &[&str],
    appended: &Wakeup,
    progress: &ProjectionProgress,
    shutdown: &CancellationToken,
) {
    const RETRY: Duration = Duration::from_secs(1);
    let mut listener = None;
    while !shutdown.is_cancelled() {
        let active = match &mut listener {
            Some(active) => active,
            None => match connect(&url, channels).await {
                Ok(connected) => {
                    // Anything announced before we listened is picked up by this wake.
                    appended.wake();
                    listener.insert(connected)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot LISTEN for notifications; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            },
        };
        let received = tokio::select! {
            received = active.try_recv() => received,
            () = shutdown.cancelled() => break,
        };
        match received {
            Ok(Some(notification)) => match notification.channel() {
                LOG_CHANNEL => appended.wake(),
                _ => {
                    if let Some(position) = projection_position(notification.payload()) {
                        progress.advance(position);
                    }
                }
            },
            // The connection dropped; the listener reconnects on the next call.
            Ok(None) => appended.wake(),
            Err(err) => {
                tracing::warn!(error = %err, "notification listener failed; reconnecting");
                listener = None;
            }
        }
    }
}

async fn connect(url: &str, channels: &[&str]) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(listener)
}

fn projection_position(payload: &str) -> Option<LogPosition> {
    let (projection, token) = payload.split_once(':')?;
    (projection == USERS_VIEW)
        .then(|| LogPosition::parse(token, "payload").ok())
        .flatten()
}

//! Between instances on PostgreSQL: LISTEN/NOTIFY carries "the log grew" and "the read model
//! moved", so followers of the log sleep until there is something to read instead of polling.
//! `startup` runs these tasks; nothing else depends on them.
//!
//! Appends are announced after their commit, by `publish_appends`, one `NOTIFY` per burst of
//! commits: PostgreSQL serialises the commits of transactions that notify, so a `NOTIFY` inside
//! each command's transaction would queue every writer behind one lock (it halved throughput in
//! `benches/throughput.rs`). A read waiting for its token does not wait for that round trip:
//! it wakes this instance's live tail itself (`MemoryModel::wanted`, wired in `startup`).
//! Checkpoint moves are announced by a trigger: one commit per batch.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio_util::sync::CancellationToken;

use crate::domain::LogPosition;
use crate::projections::USERS_VIEW;
use crate::signals::{ProjectionProgress, Wakeup};

/// Channel on which instances announce appends (payload: the announcing instance).
const LOG_CHANNEL: &str = "cqrs_user_events";
/// Channel on which `projection_checkpoints` announces moves (payload `projection:token`).
const PROJECTION_CHANNEL: &str = "cqrs_projection";

/// Until `stop`: after each burst of local commits (`committed`), wakes this instance's log
/// followers (`log_grew`) and tells the other instances with one `NOTIFY` on the write database.
pub async fn publish_appends(
    write_db: DatabaseConnection,
    committed: Wakeup,
    log_grew: Wakeup,
    instance: String,
    stop: CancellationToken,
) {
    let mut commits = committed.subscribe();
    loop {
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
        log_grew.wake();
        let notify = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [LOG_CHANNEL.into(), instance.clone().into()],
        );
        if let Err(err) = write_db.execute_raw(notify).await {
            // Other instances still find the events with their next poll.
            tracing::debug!(error = %err, "could not announce appends");
        }
    }
}

/// Relays PostgreSQL notifications until `shutdown`: other instances' appends wake `appended`,
/// projection moves advance `progress`. Reconnects by itself; after a reconnect it wakes
/// everything once, since notifications sent meanwhile are lost.
pub async fn relay_postgres_notifications(
    write_url: String,
    read_url: String,
    instance: String,
    appended: Wakeup,
    progress: Arc<ProjectionProgress>,
    shutdown: CancellationToken,
) {
    let same_database = write_url == read_url;
    let channels = if same_database {
        &[LOG_CHANNEL, PROJECTION_CHANNEL][..]
    } else {
        &[LOG_CHANNEL][..]
    };
    let log = listen(
        write_url, channels, &instance, &appended, &progress, &shutdown,
    );
    if same_database {
        log.await;
    } else {
        let projection = listen(
            read_url,
            &[PROJECTION_CHANNEL],
            &instance,
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
    instance: &str,
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
                // This instance woke its own followers when it committed.
                LOG_CHANNEL if notification.payload() == instance => {}
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

/// The `users_view` checkpoint a `cqrs_projection` notification announces (its trigger's payload:
/// the projection, `:`, the checkpoint's token); `None` for another projection's or a malformed one.
pub fn projection_position(payload: &str) -> Option<LogPosition> {
    let (projection, token) = payload.split_once(':')?;
    (projection == USERS_VIEW)
        .then(|| LogPosition::parse(token, "payload").ok())
        .flatten()
}

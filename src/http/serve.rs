//! Listening on `--listen`, and serving the router over HTTP/1.1 with hyper: bounded request
//! heads, a header-read timeout, WebSocket upgrades, and a shutdown that waits for in-flight
//! requests no longer than its grace.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{HttpLimits, ListenAddr};

/// How long accepting pauses after an error such as too many open files.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops accepting, lets open
/// connections finish their requests for `--shutdown-grace-ms` and closes what is left.
/// Upgraded connections (WebSockets) live in their own tasks and end with the application's
/// shutdown token.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout())
        .max_header_size(limits.max_header_bytes());
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                if !is_connection_error(&err) {
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(
            async move {
                let mut connection = std::pin::pin!(connection);
                let ended = tokio::select! {
                    ended = connection.as_mut() => ended,
                    () = shutdown.cancelled() => {
                        // Finish the request in progress, if any, then close.
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(err) = ended {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            }
            .in_current_span(),
        );
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let grace = limits.shutdown_grace();
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_ms = limits.shutdown_grace_ms,
            "shutdown grace period over: closing the connections still open"
        );
    }
    connections.shutdown().await;
}

/// An error of one connection (the peer gave up before it was accepted), not of the listener.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The addresses `listen` names: itself if an IP, what the system resolves a name to otherwise.
pub async fn resolve(listen: &ListenAddr) -> anyhow::Result<Vec<SocketAddr>> {
    let resolved = tokio::net::lookup_host((listen.host(), listen.port()))
        .await
        .map_err(|err| anyhow::anyhow!("cannot resolve --listen {listen}: {err}"))?;
    let resolved: Vec<SocketAddr> = resolved.collect();
    anyhow::ensure!(
        !resolved.is_empty(),
        "cannot resolve --listen {listen}: the name has no address"
    );
    Ok(resolved)
}

/// Listens on the first of `resolved` that can be bound.
pub async fn bind(listen: &ListenAddr, resolved: &[SocketAddr]) -> anyhow::Result<TcpListener> {
    TcpListener::bind(resolved).await.map_err(|err| {
        let why = match err.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the port is in use (another server, or another instance of this one): stop it \
                 or choose another --listen"
                    .to_owned()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges): choose another --listen"
                    .to_owned()
            }
            _ => err.to_string(),
        };
        anyhow::anyhow!("cannot listen on {listen}: {why}")
    })
}

//! The hostile kinds that hold connections: slow heads and bodies, idle and flooding WebSockets.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Opens `n` connections that send `head` a byte at a time, one byte a second, and reports
/// how many the server closed within 30 s.
pub async fn slow_connections(
    address: &str,
    n: usize,
    head: &'static [u8],
) -> anyhow::Result<String> {
    let host = address.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&host).await.ok()?;
            for byte in head.iter().cycle().take(30) {
                if stream.write_all(&[*byte]).await.is_err() {
                    return Some(Instant::now());
                }
                let mut buf = [0; 1024];
                let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf));
                if let Ok(Ok(0) | Err(_)) = read.await {
                    return Some(Instant::now());
                }
            }
            None
        }));
    }
    let mut closed = Vec::new();
    for task in tasks {
        if let Ok(Some(at)) = task.await {
            closed.push(at.duration_since(started));
        }
    }
    let latest = closed.iter().max().map_or(0.0, Duration::as_secs_f64);
    Ok(format!(
        "{} of {n} closed by the server (last after {latest:.1} s)",
        closed.len()
    ))
}

/// Opens `n` WebSockets that send nothing, and reports how many the server closed within 30 s.
pub async fn idle_websockets(address: &str, n: usize) -> anyhow::Result<String> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = address.replace("http://", "ws://") + "/graphql";
        tasks.push(tokio::spawn(async move {
            let mut request = url.into_client_request().ok()?;
            request.headers_mut().insert(
                "sec-websocket-protocol",
                "graphql-transport-ws".parse().ok()?,
            );
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
            let closed = tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(message) = socket.next().await {
                    if let Ok(Message::Close(frame)) = message {
                        return frame.map(|f| u16::from(f.code));
                    }
                }
                None
            });
            closed.await.ok().flatten()
        }));
    }
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    for task in tasks {
        if let Ok(Some(code)) = task.await {
            *codes.entry(code).or_default() += 1;
        }
    }
    Ok(format!("closed by the server with codes {codes:?}"))
}

/// Subscribes `n` times on one socket and reports how the subscriptions were answered.
pub async fn many_subscriptions(address: &str, n: usize) -> anyhow::Result<String> {
    let url = address.replace("http://", "ws://") + "/graphql";
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init" }).to_string();
    socket.send(Message::text(init)).await?;
    for i in 0..n {
        let subscribe = json!({
            "id": i.to_string(),
            "type": "subscribe",
            "payload": { "query": "subscription { userEvents { position } }" }
        });
        if socket
            .send(Message::text(subscribe.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            let key = match message {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).unwrap_or_default();
                    let code = &message["payload"][0]["extensions"]["code"];
                    format!(
                        "{} {}",
                        message["type"].as_str().unwrap_or("?"),
                        code.as_str().unwrap_or("")
                    )
                }
                Message::Close(frame) => {
                    let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                    *seen.entry(format!("close {code}")).or_default() += 1;
                    return;
                }
                _ => continue,
            };
            *seen.entry(key.trim().to_owned()).or_default() += 1;
        }
    })
    .await;
    Ok(format!("{seen:?}"))
}

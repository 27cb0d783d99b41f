//! A GraphQL-over-WebSocket client for tests: `graphql-transport-ws`, or the legacy `graphql-ws`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const USER_EVENTS: &str = "subscription Events($after: String) { \
    userEvents(afterPosition: $after) { __typename position userId occurredAt \
        ... on UserCreated { name email } ... on UserRenamed { previousName newName } } }";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    TransportWs,
    LegacyWs,
}

/// One subscription on its own connection.
pub struct Subscription {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Protocol,
}

impl Subscription {
    /// Connects to `address` (http://host:port), acknowledges, and subscribes to `userEvents`.
    pub async fn user_events(
        address: &str,
        after: Option<&str>,
        protocol: Protocol,
    ) -> Subscription {
        let url = format!("{}/graphql", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        let name = match protocol {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(name));
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        assert_eq!(response.headers()["sec-websocket-protocol"], name);
        let mut subscription = Subscription { socket, protocol };
        subscription
            .send(json!({ "type": "connection_init", "payload": {} }))
            .await;
        let ack = subscription
            .receive(Duration::from_secs(5))
            .await
            .expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        let start = match protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        let payload = json!({ "query": USER_EVENTS, "variables": { "after": after } });
        subscription
            .send(json!({ "id": "1", "type": start, "payload": payload }))
            .await;
        subscription
    }

    /// The next event's `userEvents` value, or the whole message if it is not data.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let message = self.receive(within).await?;
        let data_type = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::LegacyWs => "data",
        };
        if message["type"] == data_type && message["payload"]["data"].is_object() {
            Some(message["payload"]["data"]["userEvents"].clone())
        } else {
            Some(message)
        }
    }

    /// Collects `count` events, failing if they do not all come within `within`.
    pub async fn take(&mut self, count: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::with_capacity(count);
        while events.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("only {} of {count} events arrived", events.len()));
            assert!(event.get("position").is_some(), "not an event: {event}");
            events.push(event);
        }
        events
    }

    /// The next raw protocol message (pings answered, pongs skipped).
    pub async fn receive(&mut self, within: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(within, self.socket.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    match value["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("pong") | Some("ka") => {}
                        _ => return Some(value),
                    }
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    async fn send(&mut self, value: Value) {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .unwrap();
    }
}

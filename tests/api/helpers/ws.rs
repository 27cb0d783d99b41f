//! A GraphQL-over-WebSocket client for tests: `graphql-transport-ws`, or the legacy `graphql-ws`;
//! `Subscription` for one subscription, `Socket` for speaking the protocol (or not) by hand.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const USER_EVENTS: &str = "subscription Events($after: String) { \
    userEvents(afterPosition: $after) { __typename position userId occurredAt actor correlationId \
        ... on UserCreated { name email } ... on UserRenamed { previousName newName } } }";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    TransportWs,
    LegacyWs,
}

impl Protocol {
    /// Its `Sec-WebSocket-Protocol` name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        }
    }
}

/// One WebSocket to `/graphql`, nothing sent yet.
pub struct Socket {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Protocol,
}

/// One subscription on its own connection.
pub struct Subscription {
    socket: Socket,
}

impl Socket {
    /// Opens a WebSocket to `address` (http://host:port) asking for `protocol`.
    pub async fn connect(address: &str, protocol: Protocol) -> Socket {
        let url = format!("{}/graphql", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        let name = protocol.name();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(name));
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        assert_eq!(response.headers()["sec-websocket-protocol"], name);
        Socket { socket, protocol }
    }

    /// Opens a WebSocket to `address` asking for `protocol`, with extra `headers` (an `Origin`,
    /// say); the refusal's status and body if the server does not upgrade.
    pub async fn try_connect(
        address: &str,
        protocol: Protocol,
        headers: &[(&'static str, &str)],
    ) -> Result<Socket, (u16, String)> {
        let url = format!("{}/graphql", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        let all = [("sec-websocket-protocol", protocol.name())];
        for (name, value) in all.iter().chain(headers) {
            let value = HeaderValue::from_str(value).unwrap();
            request.headers_mut().insert(*name, value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Socket { socket, protocol }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().clone().unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                Err((response.status().as_u16(), body))
            }
            Err(other) => panic!("WebSocket handshake failed: {other}"),
        }
    }

    /// Sends `connection_init` and waits for the ack.
    pub async fn init(&mut self) {
        self.send(json!({ "type": "connection_init", "payload": {} }))
            .await;
        let ack = self
            .receive(Duration::from_secs(5))
            .await
            .expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    /// Sends `connection_init` with `payload` (Apollo's `connectionParams`); the server
    /// acknowledges (`receive`) or closes (`closed`).
    pub async fn init_with(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    /// Starts `userEvents` after `after` as operation `id` (`subscribe`, or `start`).
    pub async fn subscribe(&mut self, id: &str, after: Option<&str>) {
        let start = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        let payload = json!({ "query": USER_EVENTS, "variables": { "after": after } });
        self.send(json!({ "id": id, "type": start, "payload": payload }))
            .await;
    }

    /// Stops operation `id` (`complete`, or `stop`).
    pub async fn complete(&mut self, id: &str) {
        let stop = match self.protocol {
            Protocol::TransportWs => "complete",
            Protocol::LegacyWs => "stop",
        };
        self.send(json!({ "id": id, "type": stop })).await;
    }

    /// The next raw protocol message (pings answered, pongs skipped).
    pub async fn receive(&mut self, within: Duration) -> Option<Value> {
        loop {
            let value = self.receive_any(within).await?;
            match value["type"].as_str() {
                Some("ping") => self.send(json!({ "type": "pong" })).await,
                Some("pong") | Some("ka") => {}
                _ => return Some(value),
            }
        }
    }

    /// The next protocol message, whatever it is (`None` once closed or after `within`).
    pub async fn receive_any(&mut self, within: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(within, self.socket.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Reads until the server closes the socket, within `within`: its close code (1006 when the
    /// connection ended without a close frame), or `None` if it stayed open.
    pub async fn closed(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await;
            match next.ok()? {
                Some(Ok(Message::Close(Some(frame)))) => return Some(frame.code.into()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Some(1006),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends one JSON message.
    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// Sends one text message as it is.
    pub async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("the socket takes a message");
    }
}

impl Subscription {
    /// Connects to `address` (http://host:port), acknowledges, and subscribes to `userEvents`.
    pub async fn user_events(
        address: &str,
        after: Option<&str>,
        protocol: Protocol,
    ) -> Subscription {
        let mut socket = Socket::connect(address, protocol).await;
        socket.init().await;
        socket.subscribe("1", after).await;
        Subscription { socket }
    }

    /// The next event's `userEvents` value, or the whole message if it is not data.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let message = self.receive(within).await?;
        let data_type = match self.socket.protocol {
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
        self.socket.receive(within).await
    }
}

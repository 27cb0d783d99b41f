//! GraphQL over WebSocket on `GET /graphql`: the upgrade and the subscription protocols
//! (`graphql-transport-ws`, and the legacy `graphql-ws`), with the limits of `config::WsLimits`.
//!
//! Between the socket and async-graphql's executor sits `guard::Guard`: it judges every client
//! message (init first, in time; no `subscribe` before it; no duplicate id; at most so many
//! operations; valid messages only) and passes on only what it accepts. This loop adds what the
//! executor does not do: the `connection_init` deadline, pings, and a deadline on every send.
//!
//! A socket is who its handshake was (`identify`), unless its `connection_init` names a token
//! (Apollo's `connectionParams`): then that token, verified before the executor acknowledges.
//! A socket whose token is not valid is closed with 4403, and so is one whose token expires.

mod guard;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use async_graphql::Data;

use crate::config::WsLimits;
use crate::domain::Caller;
use crate::graphql::{AppSchema, codes};
use crate::http::identify::{Expiry, Gate};
use crate::http::refusal::{overloaded, refuse};
use crate::http::ws::guard::{Guard, Verdict, close};
use crate::subscriptions::{Admitted, LiveEvents};

/// Client messages accepted but not yet taken by the executor; the socket is not read beyond.
const FORWARDED: usize = 16;

/// Whether the request asks to upgrade to a WebSocket.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Upgrades to a WebSocket speaking the protocol the client asked for, if the instance has a
/// place for one more (503 `SERVICE_OVERLOADED` if not).
pub(super) async fn upgrade(
    schema: AppSchema,
    gate: Arc<Gate>,
    caller: Caller,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let who = Who {
        gate,
        caller,
        expiry: parts.extensions.get::<Expiry>().copied(),
    };
    let Some(protocol) = protocol(&parts.headers) else {
        let message = "Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws";
        return refuse(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message);
    };
    let Some(admission) = schema.data::<LiveEvents>().map(LiveEvents::admission) else {
        tracing::error!("the schema holds no LiveEvents; WebSockets are refused");
        let message = "subscriptions are not available";
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_SERVER_ERROR,
            message,
        );
    };
    let limits = *admission.limits();
    let Some(place) = admission.admit() else {
        return overloaded("this instance serves as many WebSockets as it may; retry shortly");
    };
    let size = usize::try_from(limits.ws_max_message_bytes).unwrap_or(usize::MAX);
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            // The frame limit is checked on the frame's header, before anything is buffered.
            .max_message_size(size)
            .max_frame_size(size)
            // tungstenite reserves the read buffer up front: its 128 KiB per idle socket adds up.
            .read_buffer_size(8 * 1024)
            .on_upgrade(move |socket| serve(socket, schema, protocol, limits, who, place))
            .into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

/// The first protocol the client offers that is one of ours.
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    offered.split(',').find_map(|p| p.trim().parse().ok())
}

/// Who a socket is: as its handshake was identified, until a `connection_init` says otherwise.
struct Who {
    gate: Arc<Gate>,
    caller: Caller,
    expiry: Option<Expiry>,
}

/// Serves one socket until either side ends it or a limit closes it; `_place` is its place among
/// the instance's sockets, free again when this returns.
async fn serve(
    socket: WebSocket,
    schema: AppSchema,
    protocol: WebSocketProtocols,
    limits: WsLimits,
    mut who: Who,
    _place: Admitted,
) {
    let (mut sink, mut source) = socket.split();
    let (forward, mut forwarded) = mpsc::channel::<ClientMessage>(FORWARDED);
    let input = futures::stream::poll_fn(move |cx| forwarded.poll_recv(cx).map(|m| m.map(Ok)));
    // The caller the executor gives every operation, settled before `connection_init` reaches it.
    let settled: Arc<Mutex<Option<Caller>>> = Arc::default();
    let on_init = {
        let settled = settled.clone();
        move |_payload| {
            let caller = settled.lock().ok().and_then(|mut c| c.take());
            async move {
                let mut data = Data::default();
                data.insert(caller.ok_or_else(|| async_graphql::Error::new("not identified"))?);
                Ok(data)
            }
        }
    };
    let mut executor = async_graphql::http::WebSocket::from_message_stream(schema, input, protocol)
        .on_connection_init(on_init);
    let most_open = usize::try_from(limits.ws_max_subscriptions).unwrap_or(usize::MAX);
    let mut guard = Guard::new(protocol, most_open);
    let init_deadline = tokio::time::sleep(limits.init_timeout());
    tokio::pin!(init_deadline);
    let start = Instant::now() + limits.ping_interval();
    let mut pings = tokio::time::interval_at(start, limits.ping_interval());
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // When the oldest ping nothing has answered since was sent: any frame from the peer shows
    // it is alive.
    let mut unanswered: Option<Instant> = None;
    let pong_deadline =
        |sent: Option<Instant>| sent.unwrap_or_else(Instant::now) + limits.pong_timeout();

    let end = loop {
        // Unbiased: a busy stream of events must not starve the client's messages or the
        // deadlines.
        let outgoing = tokio::select! {
            sent = executor.next() => match sent {
                Some(WsMessage::Text(text)) => {
                    guard.sent(&text);
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => break Some((code, reason)),
                None => break None,
            },
            () = until(who.expiry), if who.expiry.is_some() => {
                break Some((close::FORBIDDEN, "Forbidden: the token expired".to_owned()));
            }
            () = &mut init_deadline, if !guard.initialised() => {
                break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            () = tokio::time::sleep_until(pong_deadline(unanswered)), if unanswered.is_some() => {
                tracing::debug!("a WebSocket peer did not answer a ping; closing");
                break Some((close::TIMEOUT, "timeout".to_owned()));
            }
            _ = pings.tick() => {
                if unanswered.is_some() {
                    continue;
                }
                unanswered = Some(Instant::now());
                Message::Ping(Default::default())
            }
            received = source.next(), if forward.capacity() > 0 => {
                let bytes = match received {
                    Some(Ok(Message::Text(text))) => text.into(),
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        unanswered = None;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(err)) if too_big(&err) => {
                        break Some((close::TOO_BIG, "message too big".to_owned()));
                    }
                    Some(Err(err)) => {
                        tracing::debug!(error = %err, "reading a WebSocket failed");
                        break None;
                    }
                };
                unanswered = None;
                let first_init = !guard.initialised();
                match guard.judge(&bytes) {
                    Verdict::Forward(ClientMessage::ConnectionInit { payload }) if first_init => {
                        if let Err(refused) = who.settle(payload.as_ref(), &settled) {
                            break Some((close::FORBIDDEN, refused));
                        }
                        let _ = forward.try_send(ClientMessage::ConnectionInit { payload });
                        continue;
                    }
                    Verdict::Forward(message) => {
                        // Room was checked above, and only this loop sends.
                        let _ = forward.try_send(message);
                        continue;
                    }
                    Verdict::Answer(text) => Message::Text(text.into()),
                    Verdict::Close(code, reason) => break Some((code, reason)),
                }
            }
        };
        if !send(&mut sink, outgoing, limits.pong_timeout()).await {
            return;
        }
    };
    if let Some((code, reason)) = end {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        send(
            &mut sink,
            Message::Close(Some(frame)),
            limits.pong_timeout(),
        )
        .await;
    }
}

impl Who {
    /// Settles who the socket is from its `connection_init` payload, and hands that caller to
    /// the executor; the close reason if its token is not valid.
    fn settle(
        &mut self,
        payload: Option<&serde_json::Value>,
        settled: &Mutex<Option<Caller>>,
    ) -> Result<(), String> {
        let named = payload.and_then(|payload| self.gate.identify_socket(payload));
        match named {
            None => {}
            Some(Ok(verified)) => {
                self.caller.identity = verified.identity;
                self.expiry = Some(Expiry(verified.expires_at));
            }
            Some(Err(err)) => return Err(format!("Forbidden: {err}")),
        }
        if let Ok(mut slot) = settled.lock() {
            *slot = Some(self.caller.clone());
        }
        Ok(())
    }
}

/// Sleeps until `expiry` (at once if it has passed; never without one).
async fn until(expiry: Option<Expiry>) {
    let Some(Expiry(at)) = expiry else {
        return std::future::pending().await;
    };
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// Sends one message unless the peer takes nothing for `within` (a dead or stalled peer holds
/// no task); whether it went.
async fn send(
    sink: &mut (impl futures::Sink<Message, Error = axum::Error> + Unpin),
    message: Message,
    within: Duration,
) -> bool {
    matches!(
        tokio::time::timeout(within, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// Whether reading failed on a message or frame over `--ws-max-message-bytes` (tungstenite's
/// capacity error, which axum does not expose as a type).
fn too_big(err: &axum::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(error) = cause {
        if error.to_string().contains("Message too long") {
            return true;
        }
        cause = error.source();
    }
    false
}

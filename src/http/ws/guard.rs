//! The protocol guard: judges each client message before async-graphql sees it, with
//! graphql-transport-ws's close codes, and counts the operations open on the socket.

use std::collections::HashSet;

use async_graphql::http::{ClientMessage, WebSocketProtocols};
use serde_json::json;

use crate::graphql::codes;

/// graphql-transport-ws's close codes (PROTOCOL.md), also used for the legacy protocol, which
/// has none of its own.
pub(super) mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    /// The token in `connection_init` is not valid, or the socket's token expired. Clients
    /// like graphql-ws retry, with `connectionParams` fetched again.
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// RFC 6455: a message too big to process.
    pub const TOO_BIG: u16 = 1009;
    /// IANA's "Timeout", which async-graphql's own keep-alive also closes with.
    pub const TIMEOUT: u16 = 3008;
}

/// What to do with one client message.
#[allow(clippy::large_enum_variant)] // async-graphql's message, moved once into the channel
pub(super) enum Verdict {
    /// Pass it on to async-graphql.
    Forward(ClientMessage),
    /// Pass nothing on; send the client this message instead.
    Answer(String),
    /// Close the socket with this code and reason.
    Close(u16, String),
}

/// The state of one socket as the guard sees it.
pub(super) struct Guard {
    protocol: WebSocketProtocols,
    initialised: bool,
    /// Ids of the operations the executor is running for this socket.
    open: HashSet<String>,
    most_open: usize,
}

impl Guard {
    pub(super) fn new(protocol: WebSocketProtocols, most_open: usize) -> Self {
        Self {
            protocol,
            initialised: false,
            open: HashSet::new(),
            most_open,
        }
    }

    /// Whether `connection_init` has come. The executor acknowledges it at once (it checks
    /// nothing), so this is also whether the connection is acknowledged.
    pub(super) fn initialised(&self) -> bool {
        self.initialised
    }

    /// Judges one message the client sent. A second `connection_init` is passed on: the executor
    /// answers it (4429, or `connection_error` on the legacy protocol).
    pub(super) fn judge(&mut self, bytes: &[u8]) -> Verdict {
        let message = match ClientMessage::from_bytes(bytes) {
            Ok(message) => message,
            Err(err) => return Verdict::Close(close::BAD_REQUEST, reason(&format!("{err}"))),
        };
        match &message {
            ClientMessage::ConnectionInit { .. } => self.initialised = true,
            ClientMessage::Start { .. } if !self.initialised => {
                return Verdict::Close(close::UNAUTHORIZED, "Unauthorized".to_owned());
            }
            ClientMessage::Start { id, .. }
                if self.open.contains(id) && self.protocol == WebSocketProtocols::GraphQLWS =>
            {
                let why = reason(&format!("Subscriber for {id} already exists"));
                return Verdict::Close(close::SUBSCRIBER_EXISTS, why);
            }
            // The legacy protocol's reference server replaces the operation; so does the
            // executor, and the count stays.
            ClientMessage::Start { id, .. } if self.open.contains(id) => {}
            ClientMessage::Start { id, .. } if self.open.len() >= self.most_open => {
                return Verdict::Answer(self.too_many(id));
            }
            ClientMessage::Start { id, .. } => {
                self.open.insert(id.clone());
            }
            ClientMessage::Stop { id } => {
                self.open.remove(id);
            }
            _ => {}
        }
        Verdict::Forward(message)
    }

    /// Notes a message the executor sends: a `complete` ends its operation.
    pub(super) fn sent(&mut self, text: &str) {
        // serde writes the tag first: `{"type":"complete","id":...}`; anything else is cheaper
        // to skip than to parse.
        if !text.starts_with(r#"{"type":"complete""#) {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Complete {
            id: String,
        }
        if let Ok(Complete { id }) = serde_json::from_str(text) {
            self.open.remove(&id);
        }
    }

    /// The `error` message refusing operation `id`, in the socket's protocol.
    fn too_many(&self, id: &str) -> String {
        let error = json!({
            "message": format!(
                "this connection already has {} operations open, the most it may; complete one first",
                self.most_open
            ),
            "extensions": { "code": codes::TOO_MANY_SUBSCRIPTIONS },
        });
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => json!([error]),
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        json!({ "type": "error", "id": id, "payload": payload }).to_string()
    }
}

/// A close reason fits in a control frame: at most 123 bytes.
fn reason(text: &str) -> String {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(most_open: usize) -> Guard {
        Guard::new(WebSocketProtocols::GraphQLWS, most_open)
    }

    fn subscribe(id: &str) -> String {
        json!({ "type": "subscribe", "id": id, "payload": { "query": "subscription { a }" } })
            .to_string()
    }

    fn code(verdict: Verdict) -> Option<u16> {
        match verdict {
            Verdict::Close(code, _) => Some(code),
            _ => None,
        }
    }

    const INIT: &[u8] = br#"{"type":"connection_init"}"#;

    #[test]
    fn subscribe_before_init_is_unauthorized() {
        let mut guard = transport(2);
        assert_eq!(code(guard.judge(subscribe("1").as_bytes())), Some(4401));
    }

    #[test]
    fn a_duplicate_id_closes_until_its_operation_completes() {
        let mut guard = transport(2);
        assert!(matches!(guard.judge(INIT), Verdict::Forward(_)));
        assert!(matches!(
            guard.judge(subscribe("1").as_bytes()),
            Verdict::Forward(_)
        ));
        assert_eq!(code(guard.judge(subscribe("1").as_bytes())), Some(4409));
        guard.sent(r#"{"type":"complete","id":"1"}"#);
        assert!(matches!(
            guard.judge(subscribe("1").as_bytes()),
            Verdict::Forward(_)
        ));
    }

    #[test]
    fn one_operation_past_the_most_is_answered_with_an_error() {
        let mut guard = transport(1);
        guard.judge(INIT);
        guard.judge(subscribe("1").as_bytes());
        let Verdict::Answer(text) = guard.judge(subscribe("2").as_bytes()) else {
            panic!("refused with an error message");
        };
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["id"], "2");
        assert_eq!(
            answer["payload"][0]["extensions"]["code"],
            codes::TOO_MANY_SUBSCRIPTIONS
        );
        guard.judge(br#"{"type":"complete","id":"1"}"#);
        assert!(matches!(
            guard.judge(subscribe("2").as_bytes()),
            Verdict::Forward(_)
        ));
    }

    #[test]
    fn what_does_not_parse_is_a_bad_request() {
        let mut guard = transport(1);
        assert_eq!(code(guard.judge(b"{not json")), Some(4400));
        assert_eq!(code(guard.judge(br#"{"type":"subscribe"}"#)), Some(4400));
        assert_eq!(code(guard.judge(br#"{"type":"hello"}"#)), Some(4400));
    }

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = reason(&long);
        assert!(cut.len() <= 123 && long.starts_with(&cut));
    }
}

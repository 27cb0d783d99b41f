//! The body of `POST /graphql`, checked before anything runs: JSON only, uncompressed, bounded
//! in size (`Content-Length`, then the bytes as they stream) and in time, one GraphQL request or
//! a batch of them, and no object with a key twice.

use std::collections::HashSet;
use std::fmt;

use async_graphql::BatchRequest;
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::config::HttpLimits;
use crate::graphql::codes;
use crate::http::refusal::refuse;

/// A GraphQL request (or a batch), read from a body that passed every check.
pub(super) struct GraphQLBody(BatchRequest);

impl GraphQLBody {
    pub(super) fn into_inner(self) -> BatchRequest {
        self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for GraphQLBody
where
    HttpLimits: FromRef<S>,
{
    type Rejection = Refused;

    async fn from_request(request: Request, state: &S) -> Result<Self, Refused> {
        let limits = HttpLimits::from_ref(state);
        check_headers(request.headers(), limits.max_body_bytes)?;
        let bytes = read(request.into_body(), &limits).await?;
        parse(&bytes).map(GraphQLBody)
    }
}

/// Why a body was refused; each is answered as a GraphQL error with its status, before
/// anything ran.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refused {
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("send the body uncompressed (no Content-Encoding)")]
    Compressed,
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("POST /graphql takes Content-Type: application/json (no uploads, no forms)")]
    NotJson,
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("the body is over the limit of {0} bytes")]
    TooLarge(u64),
    /// 408 `REQUEST_TIMEOUT`: the body did not arrive within this many milliseconds.
    #[error("the body did not arrive within {0} ms")]
    TooSlow(u64),
    /// 400 `BAD_REQUEST`: the connection failed before the body ended.
    #[error("the body could not be read to its end")]
    Unreadable,
    /// 400 `BAD_REQUEST`, with serde_json's account (a position, never the input).
    #[error("the body is not valid JSON: {0}")]
    Malformed(serde_json::Error),
    /// 400 `BAD_REQUEST`.
    #[error(
        "the body is not a GraphQL request: an object with a non-empty \"query\" string, \
         or a non-empty array of them"
    )]
    NotGraphQL,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            Refused::Compressed | Refused::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
            ),
            Refused::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE),
            Refused::TooSlow(_) => (StatusCode::REQUEST_TIMEOUT, codes::REQUEST_TIMEOUT),
            Refused::Unreadable | Refused::Malformed(_) | Refused::NotGraphQL => {
                (StatusCode::BAD_REQUEST, codes::BAD_REQUEST)
            }
        };
        refuse(status, code, self.to_string())
    }
}

/// Refuses, from the headers alone, a body this service does not read.
fn check_headers(headers: &HeaderMap, max_bytes: u64) -> Result<(), Refused> {
    // A compressed body could expand past any limit checked on the wire; GraphQL requests are
    // small, and no common client compresses them.
    let encoding = headers.get(header::CONTENT_ENCODING);
    if encoding.is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity")) {
        return Err(Refused::Compressed);
    }
    // `text/plain` and forms are what a browser sends cross-site without asking first, so only
    // JSON is read: that alone keeps another site from posting a mutation (CSRF).
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let essence = content_type.map(|v| v.split(';').next().unwrap_or_default().trim());
    if !essence.is_some_and(|v| v.eq_ignore_ascii_case("application/json")) {
        return Err(Refused::NotJson);
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    if length
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max_bytes)
    {
        return Err(Refused::TooLarge(max_bytes));
    }
    Ok(())
}

/// Reads the body until it ends, it passes the size limit (the rest is left unread) or the time
/// runs out.
async fn read(body: Body, limits: &HttpLimits) -> Result<Bytes, Refused> {
    let limited = Limited::new(body, limits.max_body_bytes());
    match tokio::time::timeout(limits.body_read_timeout(), limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<LengthLimitError>() => {
            Err(Refused::TooLarge(limits.max_body_bytes))
        }
        Ok(Err(_)) => Err(Refused::Unreadable),
        Err(_) => Err(Refused::TooSlow(limits.body_read_timeout_ms)),
    }
}

/// JSON without a repeated key, then a GraphQL request with a query, or a non-empty array of them.
fn parse(bytes: &[u8]) -> Result<BatchRequest, Refused> {
    serde_json::from_slice::<UniqueKeys>(bytes).map_err(Refused::Malformed)?;
    let request = serde_json::from_slice::<BatchRequest>(bytes).map_err(|_| Refused::NotGraphQL)?;
    let queries_given = match &request {
        BatchRequest::Single(one) => !one.query.is_empty(),
        BatchRequest::Batch(many) => many.iter().all(|one| !one.query.is_empty()),
    };
    if !queries_given {
        return Err(Refused::NotGraphQL);
    }
    Ok(request)
}

/// Any JSON value in which no object repeats a key. serde_json keeps the last of two, so a
/// proxy or log that reads the first would see another request than the one that runs.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            map.next_value::<UniqueKeys>()?;
            seen.insert(key);
        }
        Ok(self)
    }
}

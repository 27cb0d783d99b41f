//! The body of `POST /graphql`, checked before anything runs: JSON only, uncompressed, bounded
//! in size (`Content-Length`, then the bytes as they stream) and in time, one GraphQL request or
//! a batch of them, and no object with a key twice; and the parameters of `GET /graphql`. Each
//! GraphQL request has a `query` string (or a persisted query hash), and `operationName`,
//! `variables` and `extensions` of their types, or is refused with 400 saying which is wrong.

use std::collections::HashSet;
use std::fmt;

use async_graphql::{BatchRequest, Request as GraphQLRequest};
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

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
    /// 400 `BAD_REQUEST`: what is wrong with it.
    #[error("not a GraphQL request: {0}")]
    NotGraphQL(String),
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
            Refused::Unreadable | Refused::Malformed(_) | Refused::NotGraphQL(_) => {
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

/// JSON without a repeated key, then a GraphQL request, or a non-empty array of them.
fn parse(bytes: &[u8]) -> Result<BatchRequest, Refused> {
    serde_json::from_slice::<UniqueKeys>(bytes).map_err(Refused::Malformed)?;
    let value: Value = serde_json::from_slice(bytes).map_err(Refused::Malformed)?;
    let not_graphql = |why: &str| Refused::NotGraphQL(why.to_owned());
    match &value {
        Value::Object(fields) => check_fields(fields)?,
        Value::Array(many) if !many.is_empty() => {
            for one in many {
                let fields = one
                    .as_object()
                    .ok_or_else(|| not_graphql("each request of a batch is an object"))?;
                check_fields(fields)?;
            }
        }
        Value::Array(_) => return Err(not_graphql("a batch holds at least one request")),
        _ => return Err(not_graphql("the body is an object, or an array of them")),
    }
    serde_json::from_value(value).map_err(|_| not_graphql("it has fields of the wrong shape"))
}

/// The parameters of a `GET /graphql`: `query`, `operationName`, and `variables` and
/// `extensions` as JSON; others are ignored, none may come twice.
pub(super) fn from_query_string(query: Option<&str>) -> Result<GraphQLRequest, Refused> {
    let mut fields = Map::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = match &*name {
            "query" | "operationName" => Value::String(value.into_owned()),
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|_| Refused::NotGraphQL(format!("the parameter `{name}` is not JSON")))?,
            _ => continue,
        };
        if fields.insert(name.clone().into_owned(), value).is_some() {
            return Err(Refused::NotGraphQL(format!(
                "the parameter `{name}` is given twice"
            )));
        }
    }
    check_fields(&fields)?;
    serde_json::from_value(Value::Object(fields))
        .map_err(|_| Refused::NotGraphQL("its parameters have the wrong shape".to_owned()))
}

/// One GraphQL request's fields: a `query` string, unless a persisted query hash names the
/// document; `operationName` a string, `variables` and `extensions` objects (each may be null).
fn check_fields(fields: &Map<String, Value>) -> Result<(), Refused> {
    let wrong = |why: &str| Err(Refused::NotGraphQL(why.to_owned()));
    let persisted = fields
        .get("extensions")
        .and_then(|extensions| extensions.get("persistedQuery"))
        .is_some();
    match fields.get("query") {
        Some(Value::String(query)) if !query.is_empty() => {}
        None | Some(Value::String(_)) if persisted => {}
        None | Some(Value::String(_)) => {
            return wrong("`query` is missing (nor does extensions.persistedQuery name one)");
        }
        Some(_) => return wrong("`query` must be a string"),
    }
    if !matches!(
        fields.get("operationName"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return wrong("`operationName` must be a string or null");
    }
    for name in ["variables", "extensions"] {
        if !matches!(
            fields.get(name),
            None | Some(Value::Null | Value::Object(_))
        ) {
            return Err(Refused::NotGraphQL(format!(
                "`{name}` must be an object or null"
            )));
        }
    }
    Ok(())
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

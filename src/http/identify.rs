//! Who is calling: each request's `Caller`, from its bearer token (or development mode), and its
//! request id (`x-request-id`, kept when the client sent a usable one, answered on the response;
//! the same id is the `request` span's `request_id` and the errors' `requestId`).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::{AuthError, Authenticator, Verified};
use crate::domain::{Caller, CorrelationId, Identity};
use crate::graphql::codes;
use crate::http::refusal::refuse;

/// The request id header, read and answered.
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// When the request's token expires: a WebSocket opened with it is closed then.
#[derive(Debug, Clone, Copy)]
pub(super) struct Expiry(pub SystemTime);

/// How callers are identified: by bearer token when authentication is configured, otherwise
/// everyone is the developer.
pub struct Gate {
    authenticator: Option<Authenticator>,
}

impl Gate {
    pub fn new(authenticator: Option<Authenticator>) -> Arc<Self> {
        Arc::new(Self { authenticator })
    }

    /// Who a request is, from its `Authorization` header (also used for a WebSocket handshake,
    /// whose `connection_init` may name another token), and until when its token is valid.
    fn identify(&self, headers: &HeaderMap) -> Result<(Identity, Option<Expiry>), AuthError> {
        let Some(authenticator) = &self.authenticator else {
            return Ok((Identity::Developer, None));
        };
        match headers.get(header::AUTHORIZATION) {
            None => Ok((Identity::Unauthenticated, None)),
            Some(value) => {
                let token = value.to_str().ok().and_then(bearer);
                let token = token.ok_or(AuthError::Malformed)?;
                let verified = authenticator.verify(token)?;
                Ok((verified.identity, Some(Expiry(verified.expires_at))))
            }
        }
    }

    /// Who a WebSocket is, from its `connection_init` payload: `{"authorization": "Bearer …"}`
    /// (any case, as Apollo's `connectionParams` usually carry it) or `{"token": "…"}`. `None`
    /// when it names no token: the socket is who its handshake was.
    pub(super) fn identify_socket(
        &self,
        payload: &serde_json::Value,
    ) -> Option<Result<Verified, AuthError>> {
        let authenticator = self.authenticator.as_ref()?;
        let object = payload.as_object()?;
        let named = object.iter().find_map(|(key, value)| {
            let value = value.as_str();
            if key.eq_ignore_ascii_case("authorization") {
                Some(value.and_then(bearer))
            } else if key == "token" {
                Some(value)
            } else {
                None
            }
        })?;
        Some(match named {
            Some(token) => authenticator.verify(token),
            None => Err(AuthError::Malformed),
        })
    }
}

/// Gives every request its id, an extension (`CorrelationId`): the client's `x-request-id` if
/// usable, else a fresh one; answered in the response's `x-request-id`.
pub(super) async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(CorrelationId::from_client)
        .unwrap_or_else(CorrelationId::generate);
    let answered = HeaderValue::from_str(id.as_str()).ok();
    request.extensions_mut().insert(id);
    let mut response = next.run(request).await;
    if let Some(id) = answered {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// Gives the request its `Caller` (an extension the GraphQL handlers read) with its id, refusing
/// with 401 `UNAUTHENTICATED` a request whose token is not valid: a client that sent a token
/// meant to be someone, and must not be served as nobody.
pub(super) async fn identify(
    State(gate): State<Arc<Gate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let correlation_id = request
        .extensions()
        .get::<CorrelationId>()
        .cloned()
        .unwrap_or_else(CorrelationId::generate);
    match gate.identify(request.headers()) {
        Ok((identity, expiry)) => {
            let caller = Caller {
                identity,
                correlation_id,
            };
            request.extensions_mut().insert(caller);
            if let Some(expiry) = expiry {
                request.extensions_mut().insert(expiry);
            }
            next.run(request).await
        }
        Err(err) => unauthenticated(&err),
    }
}

/// 401 `UNAUTHENTICATED` for a token that is not valid, with RFC 6750's challenge.
fn unauthenticated(err: &AuthError) -> Response {
    let mut response = refuse(
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
        err.to_string(),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    response
}

/// The token of a `Bearer` credential (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

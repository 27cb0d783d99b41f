//! Requests refused by the HTTP layer, answered as GraphQL errors (`errors[].extensions.code`)
//! with an HTTP status: unknown paths, wrong methods, bodies too big or too slow, load shed.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::BoxError;

use crate::graphql::codes;

/// How long a client refused for load is told to wait, in seconds.
const RETRY_AFTER_SECONDS: u64 = 1;

/// A request refused before anything ran, answered as a GraphQL error with an HTTP status.
pub(super) fn refuse(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message.into(), "extensions": { "code": code } }]
    });
    (status, Json(body)).into_response()
}

/// Any path no route serves.
pub(super) async fn not_found(request: Request) -> Response {
    let message = format!(
        "no such path: {}; GraphQL is at /graphql",
        request.uri().path()
    );
    refuse(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
}

/// Gives an error answer that is not JSON (axum's 405 with its `Allow` header, a WebSocket
/// upgrade's rejection) a GraphQL error body with the code of its status, headers kept.
pub(super) async fn as_graphql_error(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/graphql-response+json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => codes::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => codes::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::REQUEST_TIMEOUT => codes::REQUEST_TIMEOUT,
        StatusCode::NOT_ACCEPTABLE => codes::NOT_ACCEPTABLE,
        s if s.is_client_error() => codes::BAD_REQUEST,
        _ => codes::INTERNAL_SERVER_ERROR,
    };
    let message = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("refused")
    );
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let refused = refuse(status, code, message);
    parts.headers.extend(refused.headers().clone());
    (parts, refused.into_body()).into_response()
}

/// Load shed at once: 503 `SERVICE_OVERLOADED`, with when to retry.
pub(super) fn overloaded(message: &str) -> Response {
    let mut response = refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::SERVICE_OVERLOADED,
        message,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

/// What the in-flight bound and the request deadline (tower's `LoadShed` and `Timeout`) report.
pub(super) async fn overloaded_or_late(error: BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        // Debug: under a flood, one line per shed request would flood the log too.
        tracing::debug!("shed a request: --max-in-flight requests in flight");
        overloaded("this instance is serving as many requests as it takes; retry shortly")
    } else if error.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("a request passed its deadline (--request-deadline-ms) and was ended");
        let message = "no answer within the request deadline; a mutation in it may have been \
                       applied, so read before retrying one";
        refuse(
            StatusCode::GATEWAY_TIMEOUT,
            codes::DEADLINE_EXCEEDED,
            message,
        )
    } else {
        tracing::error!(error = %error, "unexpected middleware error");
        let message = "internal error";
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_SERVER_ERROR,
            message,
        )
    }
}

//! What keeps browsers from being turned against the service: the `Host` check (DNS
//! rebinding), CORS, the WebSocket `Origin` check, and the playground's security headers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Auth, Exposure, is_loopback_host};
use crate::graphql::codes;
use crate::http::refusal::refuse;

/// The playground loads only its own files; its inline `<style>` and the style attributes
/// React and CodeMirror set need `'unsafe-inline'` for styles (never for scripts); fonts and
/// icons are `data:` URIs inside its CSS; it fetches and opens its WebSocket same-origin.
const PLAYGROUND_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// What the browser rules need to know, from `config::Exposure`.
#[derive(Debug)]
pub struct Browsers {
    auth: Auth,
    origins: Vec<HeaderValue>,
    credentials: bool,
    pub(super) playground: bool,
}

impl Browsers {
    /// The rules for serving as `auth` says, with the origins and switches of `exposure`.
    pub fn new(auth: Auth, exposure: &Exposure) -> anyhow::Result<Arc<Self>> {
        let origins = exposure
            .cors_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o.trim_end_matches('/'))
                    .map_err(|_| anyhow::anyhow!("--cors-origin {o:?} is not a header value"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Arc::new(Self {
            auth,
            origins,
            credentials: exposure.cors_allow_credentials,
            playground: !exposure.disable_playground,
        }))
    }

    /// CORS for the `--cors-origin` list; `None` (no CORS headers at all) when it is empty.
    pub(super) fn cors(&self) -> Option<CorsLayer> {
        if self.origins.is_empty() {
            return None;
        }
        let apollo = [
            HeaderName::from_static("apollographql-client-name"),
            HeaderName::from_static("apollographql-client-version"),
        ];
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.origins.clone()))
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    apollo[0].clone(),
                    apollo[1].clone(),
                ])
                .allow_credentials(self.credentials),
        )
    }

    /// Whether a WebSocket handshake's `Origin` may open a socket: none (not a browser), the
    /// request's own `Host`, or one on the `--cors-origin` list.
    pub(super) fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.origins.iter().any(|o| o == origin) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority);
        matches!((host, authority), (Some(h), Some(a)) if h.eq_ignore_ascii_case(a))
    }
}

/// Refuses, before anything runs, a request whose `Host` does not name loopback while serving
/// without authentication on loopback: 421 `FORBIDDEN_HOST`. A page on a name the attacker
/// controls that resolves to 127.0.0.1 is same-origin for the browser; its `Host` gives it away.
pub(super) async fn check_host(
    State(browsers): State<Arc<Browsers>>,
    request: Request,
    next: Next,
) -> Response {
    if !browsers.auth.checks_host() {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if host.is_some_and(is_loopback_host) {
        return next.run(request).await;
    }
    let message = "this server serves without authentication, to loopback names only \
                   (localhost, 127.0.0.1, [::1]); this request's Host names another";
    refuse(
        StatusCode::MISDIRECTED_REQUEST,
        codes::FORBIDDEN_HOST,
        message,
    )
}

/// The playground's security headers: its CSP (no framing), `nosniff`, no referrer.
pub(super) async fn playground_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PLAYGROUND_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

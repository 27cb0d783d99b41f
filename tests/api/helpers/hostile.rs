//! Hostile requests, checked from the attacker's side: refused with their status and
//! `extensions.code`, nothing written, and the server still answering.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::raw::RawResponse;

/// Asserts that `response` is a refusal: HTTP `status`, a JSON body whose errors all carry
/// `extensions.code` and whose first is `code`, and no `data`. Returns the body.
pub async fn assert_refused(response: reqwest::Response, status: u16, code: &str) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_refusal(got, &text, status, code)
}

/// Like `assert_refused`, for a response read off a raw connection.
pub fn assert_raw_refused(response: &RawResponse, status: u16, code: &str) -> Value {
    assert_refusal(response.status, &response.body, status, code)
}

/// Like `assert_refused`, for a status and body read some other way (a WebSocket handshake).
pub fn assert_refusal(got: u16, text: &str, status: u16, code: &str) -> Value {
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|_| panic!("HTTP {got}: the refusal is not JSON: {text:.300}"));
    assert_eq!(got, status, "HTTP status of the refusal: {body:#.1000}");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a refusal without errors: {body:#.1000}"));
    assert!(
        errors.iter().all(|e| e["extensions"]["code"].is_string()),
        "every error has a code: {body:#.1000}"
    );
    assert_eq!(errors[0]["extensions"]["code"], code, "{body:#.1000}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body:#.1000}");
    body
}

impl TestApp {
    /// Nothing was written (the write model and the log hold what they held `before`, from
    /// `write_counts`), and the server still answers `/healthz` at once.
    pub async fn assert_unharmed(&self, before: (usize, usize)) {
        assert_eq!(self.write_counts().await, before, "a hostile request wrote");
        let health = self
            .http()
            .get(self.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("the server still answers");
        assert_eq!(health.status(), 200, "/healthz after a hostile request");
    }
}

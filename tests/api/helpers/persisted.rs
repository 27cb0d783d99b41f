//! Requests that name their document by hash (`extensions.persistedQuery`), over POST and GET.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::TestApp;

/// The SHA-256 of `text` in lowercase hex, as Apollo's clients name a document.
pub fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// `extensions` naming a document by `hash`.
pub fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs `body` as JSON; the status, headers and JSON body.
pub async fn post(app: &TestApp, body: &Value) -> (u16, HeaderMap, Value) {
    let response = app.http().post(app.url("/graphql")).json(body);
    let response = response.send().await.expect("an answer");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.expect("a JSON body"))
}

/// GETs `/graphql` with these parameters (JSON values are sent as JSON text).
pub async fn get(app: &TestApp, params: &[(&str, Value)]) -> reqwest::Response {
    let params: Vec<(&str, String)> = params
        .iter()
        .map(|(name, value)| match value {
            Value::String(text) => (*name, text.clone()),
            other => (*name, other.to_string()),
        })
        .collect();
    let request = app.http().get(app.url("/graphql")).query(&params);
    request.send().await.expect("an answer")
}

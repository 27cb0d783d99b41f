//! Automatic persisted queries (Apollo's protocol): a document named by its SHA-256 alone is
//! unknown until a request with its text registers it, then runs over POST and GET; a hash that
//! is not the text's registers nothing; the store forgets the least recently used past its bounds;
//! the limits measure a document named by hash; GET still refuses a mutation named by hash.

use serde_json::{Value, json};

use crate::helpers::persisted::{get, persisted, post, sha256_hex};
use crate::helpers::{
    Backend, CREATE_USER, TestApp, USERS, assert_no_errors, assert_refused, both_engines,
    error_code, spawn_app, spawn_app_with,
};

fn page_vars() -> Value {
    json!({ "page": 1, "pageSize": 10 })
}

/// Hash alone: `PERSISTED_QUERY_NOT_FOUND` (HTTP 200, not cached, the message Apollo's link
/// reads) until the text comes with it; then the hash alone runs it, over POST and over GET.
async fn a_hash_alone_is_unknown_until_its_text_registers_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_and_read("Ada", "ada@example.com").await;
    let hash = sha256_hex(USERS);
    let by_hash = json!({ "variables": page_vars(), "extensions": persisted(&hash) });

    let (status, headers, body) = post(&app, &by_hash).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-cache")
    );

    let mut with_text = by_hash.clone();
    with_text["query"] = USERS.into();
    let (status, _, body) = post(&app, &with_text).await;
    assert_eq!(status, 200);
    assert_no_errors(&body);
    assert_eq!(body["data"]["users"]["totalCount"], 1);

    let (_, _, again) = post(&app, &by_hash).await;
    assert_eq!(again, body, "the hash alone runs what the text ran");
    let params = [
        ("extensions", persisted(&hash)),
        ("variables", page_vars()),
        ("operationName", "ListUsers".into()),
    ];
    let response = get(&app, &params).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), body, "over GET");
}

/// A hash that is not the SHA-256 of the text: refused, nothing runs, nothing is registered
/// under it or under the text's own hash; a malformed `persistedQuery` is refused too.
async fn a_hash_that_is_not_the_texts_registers_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.write_counts().await;
    let input = json!({ "input": { "name": "Mallory", "email": "m@example.com" } });
    let lying = json!({
        "query": CREATE_USER, "variables": input, "extensions": persisted(&sha256_hex(USERS)),
    });
    let (status, _, body) = post(&app, &lying).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_code(&body), "PERSISTED_QUERY_HASH_MISMATCH", "{body}");
    assert!(body["data"].is_null(), "{body}");
    app.assert_unharmed(before).await;

    for hash in [sha256_hex(USERS), sha256_hex(CREATE_USER)] {
        let by_hash = json!({ "variables": input, "extensions": persisted(&hash) });
        let (_, _, body) = post(&app, &by_hash).await;
        assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    }
    let versions = [json!(2), json!("1"), json!(null)];
    for version in versions {
        let extensions = json!({ "persistedQuery": { "version": version, "sha256Hash": "ab" } });
        let (_, _, body) = post(&app, &json!({ "extensions": extensions })).await;
        assert_eq!(
            error_code(&body),
            "BAD_REQUEST",
            "version {version}: {body}"
        );
    }
    app.assert_unharmed(before).await;
}

/// `query Q<i> { users { totalCount } }`, each its own document.
fn numbered(i: usize) -> String {
    format!("query Q{i} {{ users {{ totalCount }} }}")
}

/// Registers `text` (asserting it ran) or, with `register: false`, sends its hash alone; the
/// code of the first error, if any.
async fn send(app: &TestApp, text: &str, register: bool) -> Option<String> {
    let mut request = json!({ "extensions": persisted(&sha256_hex(text)) });
    if register {
        request["query"] = text.into();
    }
    let (_, _, body) = post(app, &request).await;
    body.get("errors").map(|_| error_code(&body).to_owned())
}

/// With `--apq-max-entries 3`, a fourth document pushes out the least recently used one (not
/// the first registered, which was used since); with `--apq-max-bytes`, bytes bound it too, and a
/// document over the whole bound runs without being kept.
async fn the_store_forgets_the_least_recently_used_past_its_bounds(backend: Backend) {
    let app = spawn_app_with(backend.clone(), &["--apq-max-entries", "3"]).await;
    for i in 0..3 {
        assert_eq!(send(&app, &numbered(i), true).await, None);
    }
    assert_eq!(send(&app, &numbered(0), false).await, None, "kept");
    assert_eq!(send(&app, &numbered(3), true).await, None);
    let not_found = Some("PERSISTED_QUERY_NOT_FOUND".to_owned());
    assert_eq!(send(&app, &numbered(1), false).await, not_found);
    for kept in [0, 2, 3] {
        assert_eq!(send(&app, &numbered(kept), false).await, None, "Q{kept}");
    }

    // Each text is ~600 bytes (a comment pads it), two do not fit in 1024.
    let app = spawn_app_with(backend, &["--apq-max-bytes", "1024"]).await;
    let padded = |i: usize, size: usize| format!("{}\n#{}", numbered(i), "x".repeat(size));
    assert_eq!(send(&app, &padded(0, 500), true).await, None);
    assert_eq!(send(&app, &padded(1, 500), true).await, None);
    assert_eq!(send(&app, &padded(0, 500), false).await, not_found);
    assert_eq!(send(&app, &padded(1, 500), false).await, None);
    assert_eq!(send(&app, &padded(2, 2000), true).await, None, "runs");
    assert_eq!(send(&app, &padded(2, 2000), false).await, not_found);
    assert_eq!(
        send(&app, &padded(1, 500), false).await,
        None,
        "not pushed out"
    );
}

/// The limits measure the text a hash names: hash-only operations of one batch share the cost
/// budget, and a document past a limit is refused, and never registered.
async fn the_limits_apply_to_a_document_named_by_hash(backend: Backend) {
    let app = spawn_app_with(backend, &["--max-query-cost", "100"]).await;
    // 20 items of one field each, plus the fields above them: more than 20, under 50.
    let page = "{ users(pageSize: 20) { items { id } } }";
    assert_eq!(send(&app, page, true).await, None);
    let batch: Vec<Value> = (0..10)
        .map(|_| json!({ "extensions": persisted(&sha256_hex(page)) }))
        .collect();
    let (status, _, body) = post(&app, &Value::Array(batch)).await;
    assert_eq!(status, 200);
    let answers = body.as_array().expect("a batch answer");
    assert_no_errors(&answers[0]);
    let refused = answers.iter().filter(|a| a.get("errors").is_some()).count();
    assert!(refused >= 6, "at most 4 of 10 fit in the budget: {body:#}");
    assert_eq!(error_code(&answers[9]), "QUERY_TOO_COMPLEX", "{body:#}");

    let costly = "{ users(pageSize: 100) { items { id name } } }";
    let too_complex = Some("QUERY_TOO_COMPLEX".to_owned());
    assert_eq!(send(&app, costly, true).await, too_complex);
    let not_found = Some("PERSISTED_QUERY_NOT_FOUND".to_owned());
    assert_eq!(send(&app, costly, false).await, not_found, "not registered");
}

/// A registered mutation named by its hash over GET: 405 with `Allow: POST`, nothing written.
async fn get_refuses_a_mutation_named_by_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let input = json!({ "input": { "name": "Ada", "email": "ada@example.com" } });
    let hash = sha256_hex(CREATE_USER);
    let register =
        json!({ "query": CREATE_USER, "variables": input, "extensions": persisted(&hash) });
    let (_, _, body) = post(&app, &register).await;
    assert_no_errors(&body);
    let before = app.write_counts().await;

    let other = json!({ "input": { "name": "Mallory", "email": "m@example.com" } });
    for with_text in [false, true] {
        let mut params = vec![
            ("extensions", persisted(&hash)),
            ("variables", other.clone()),
        ];
        if with_text {
            params.push(("query", CREATE_USER.into()));
        }
        let response = get(&app, &params).await;
        assert_eq!(response.headers()["allow"], "POST");
        assert_refused(response, 405, "METHOD_NOT_ALLOWED").await;
    }
    // Unknown hashes are refused as unknown, whatever they might name.
    let response = get(&app, &[("extensions", persisted(&sha256_hex("mutation")))]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
    app.assert_unharmed(before).await;
}

both_engines!(
    a_hash_alone_is_unknown_until_its_text_registers_it,
    a_hash_that_is_not_the_texts_registers_nothing,
    the_store_forgets_the_least_recently_used_past_its_bounds,
    the_limits_apply_to_a_document_named_by_hash,
    get_refuses_a_mutation_named_by_hash,
);

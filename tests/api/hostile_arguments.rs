//! Arguments chosen to break parsing, storage or display: numbers past 32 bits, megabyte
//! strings, NUL, lone surrogates, invisible and right-to-left characters. Each is refused with
//! its code, nothing is written, and the server still answers.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_USER, UPDATE_USER_NAME, USERS, assert_refused, both_engines, spawn_app,
};

/// Numbers the schema's `Int` or the page bounds do not take, as literals and as variables: a
/// number past 32 bits is a client's input error, a number past `f64` a document that does not
/// parse.
async fn out_of_range_numbers_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.create_user("Ada", "ada@example.com").await.user;
    let literal = |args: &str| json!({ "query": format!("{{ users({args}) {{ totalCount }} }}") });
    let page = |page: Value, size: Value| json!({ "query": USERS, "variables": { "page": page, "pageSize": size } });
    let rename = |version: Value| {
        let input = json!({ "id": ada.id, "name": "Eve", "expectedVersion": version });
        json!({ "query": UPDATE_USER_NAME, "variables": { "input": input } })
    };
    let (too_big, too_small) = (json!(2_147_483_648_u64), json!(-2_147_483_649_i64));
    let cases = [
        (literal("page: 2147483648"), "BAD_USER_INPUT"),
        (literal("pageSize: -2147483649"), "BAD_USER_INPUT"),
        (literal("page: 1e400"), "GRAPHQL_PARSE_FAILED"),
        (literal("page: 0"), "BAD_USER_INPUT"),
        (literal("pageSize: 101"), "BAD_USER_INPUT"),
        (page(too_big.clone(), json!(1)), "BAD_USER_INPUT"),
        (page(json!(1), json!(-1)), "BAD_USER_INPUT"),
        (page(json!(1), json!(1.5)), "GRAPHQL_VALIDATION_FAILED"),
        (page(json!(1), json!(u64::MAX)), "GRAPHQL_VALIDATION_FAILED"),
        (rename(too_big), "BAD_USER_INPUT"),
        (rename(too_small), "BAD_USER_INPUT"),
    ];
    for (request, code) in cases {
        let response = post(&app, &request).await;
        let body = assert_refused(response, 200, code).await;
        assert!(body["errors"][0]["message"].is_string(), "{request}");
        app.assert_unharmed((1, 1)).await;
    }
}

/// Strings that are too long or hold characters a name must not: refused by the domain types
/// with BAD_USER_INPUT, naming the field.
async fn hostile_strings_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let megabyte = "a".repeat(1_000_000);
    let create = |name: &str, email: &str| {
        let input = json!({ "name": name, "email": email });
        json!({ "query": CREATE_USER, "variables": { "input": input } })
    };
    let cases = [
        (create(&megabyte, "ada@example.com"), "name"),
        (create("Ada", &format!("{megabyte}@example.com")), "email"),
        (create("Ada\u{0}", "ada@example.com"), "name"),
        (create("Ada", "ada\u{0}@example.com"), "email"),
        (create("\u{202E}nimda", "ada@example.com"), "name"),
        (create("Ada\u{200B}", "ada@example.com"), "name"),
        (create("Ad\u{2066}a\u{2069}", "ada@example.com"), "name"),
        (create("\u{FEFF}", "ada@example.com"), "name"),
    ];
    for (request, field) in cases {
        let response = post(&app, &request).await;
        let body = assert_refused(response, 200, "BAD_USER_INPUT").await;
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
        app.assert_unharmed((0, 0)).await;
    }
    let huge_id = json!({ "query": "query($id: ID!) { user(id: $id) { id } }",
                          "variables": { "id": megabyte } });
    let response = post(&app, &huge_id).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(body["data"]["user"].is_null(), "{body:#.300}");
}

/// A lone surrogate is no character: written as a GraphQL escape the document does not parse;
/// written as a JSON escape the body is not JSON (its answer's shape is the HTTP layer's).
async fn lone_surrogates_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let escaped = r#"mutation { createUser(input: { name: "Ada\uD800", email: "a@example.com" }) { consistencyToken } }"#;
    let response = post(&app, &json!({ "query": escaped })).await;
    assert_refused(response, 200, "GRAPHQL_PARSE_FAILED").await;
    app.assert_unharmed((0, 0)).await;

    let body = r#"{"query": "mutation($input: CreateUserInput!) { createUser(input: $input) { consistencyToken } }",
                  "variables": {"input": {"name": "Ada\ud800", "email": "a@example.com"}}}"#;
    let request = app.http().post(app.url("/graphql"));
    let request = request
        .header("content-type", "application/json")
        .body(body);
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 400);
    app.assert_unharmed((0, 0)).await;
}

async fn post(app: &crate::helpers::TestApp, body: &Value) -> reqwest::Response {
    let request = app.http().post(app.url("/graphql")).json(body);
    request.send().await.expect("request sent")
}

both_engines!(
    out_of_range_numbers_are_refused,
    hostile_strings_are_refused,
    lone_surrogates_are_refused,
);

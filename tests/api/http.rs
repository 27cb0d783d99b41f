//! The HTTP surface: GET and batched POST, GraphQL-level errors, internal errors, health. The JSON's exact shape is the point here, so bodies stay `Value`s.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_USER, USERS, assert_refused, both_engines, error_code, spawn_app,
    spawn_app_with,
};

/// GET serves queries; a mutation over GET is refused with 405 and writes nothing.
async fn get_serves_queries_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = async |query: &str| {
        let request = app.http().get(app.url("/graphql"));
        request.query(&[("query", query)]).send().await.unwrap()
    };
    let response = get("{ users { totalCount } }").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["users"]["totalCount"], 0);

    let response = get(r#"mutation {
        createUser(input: { name: "Eve", email: "eve@example.com" }) { user { id } }
    }"#)
    .await;
    assert_eq!(response.headers()["allow"], "POST");
    assert_refused(response, 405, "METHOD_NOT_ALLOWED").await;
    app.assert_unharmed((0, 0)).await;
}

/// A JSON array of operations is answered with an array, in order.
async fn answers_a_batch_with_an_array(backend: Backend) {
    let app = spawn_app(backend).await;
    let create = |name: &str, email: &str| {
        let input = json!({ "name": name, "email": email });
        json!({ "query": CREATE_USER, "variables": { "input": input } })
    };
    let post = async |batch: &Value| {
        let request = app.http().post(app.url("/graphql")).json(batch);
        request.send().await.unwrap()
    };
    let batch = json!([
        create("Ada", "ada@example.com"),
        { "query": "{ users(pageSize: 0) { totalCount } }" },
    ]);
    let response = post(&batch).await;
    assert_eq!(response.status(), 200);
    let body: Vec<Value> = response.json().await.unwrap();
    assert_eq!(body.len(), 2);
    assert_eq!(body[0]["data"]["createUser"]["user"]["name"], "Ada");
    assert_eq!(error_code(&body[1]), "BAD_USER_INPUT");

    // More than 32 operations in one request are refused before any runs.
    let batch: Vec<Value> = (0..33)
        .map(|i| create("Many", &format!("m{i}@example.com")))
        .collect();
    let response = post(&json!(batch)).await;
    assert_refused(response, 400, "BATCH_LIMIT_EXCEEDED").await;
    app.assert_unharmed((1, 1)).await;
}

/// Syntax errors, validation errors and unknown fields are GraphQL errors with codes, not HTTP
/// 500s.
async fn malformed_operations_get_coded_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("{ users( }", "GRAPHQL_PARSE_FAILED"),
        ("{ users { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        (
            r#"{ users(page: "one") { totalCount } }"#,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ user { id } }", "GRAPHQL_VALIDATION_FAILED"),
    ];
    for (query, code) in cases {
        let body = app.graphql(query, json!({})).await;
        assert_eq!(error_code(&body), code, "{query}");
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    // A variable of the wrong type.
    let body = app
        .graphql(USERS, json!({ "page": "one", "pageSize": 1 }))
        .await;
    let code = &body["errors"][0]["extensions"]["code"];
    assert!(code.is_string(), "{body:#}");
    assert!(body["data"].is_null());
}

/// An internal failure answers INTERNAL_SERVER_ERROR with an errorId, shows no SQL, and the
/// log line of the cause carries the same errorId.
async fn internal_errors_show_an_id_not_the_cause(backend: Backend) {
    // Reads from users_view only: the in-memory model would answer without the dropped table.
    let app = spawn_app_with(backend, &["--read-model", "database"]).await;
    app.execute_on_read_db("DROP TABLE users_view").await;
    let body = app
        .graphql("{ users { totalCount items { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR");
    let error = &body["errors"][0];
    let error_id = error["extensions"]["errorId"].as_str().expect("errorId");
    let text = error.to_string().to_lowercase();
    for leak in ["users_view", "select", "sql", "table", "relation", "/"] {
        assert!(
            !text.contains(leak),
            "{leak:?} leaked to the client: {text}"
        );
    }
    let logs = app.logs();
    let line = logs.lines().find(|l| l.contains(error_id));
    let line = line.expect("a log line with the errorId");
    assert!(
        line.contains("users_view"),
        "the log names the cause: {line}"
    );
}

/// /healthz answers; /readyz reports both databases and the projection.
async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = async |path: &str| app.http().get(app.url(path)).send().await.unwrap();
    assert_eq!(get("/healthz").await.status(), 200);
    let response = get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["writeDatabase"], "ok");
    assert_eq!(body["readDatabase"], "ok");
    assert_eq!(body["projection"]["state"], "ok");
}

both_engines!(
    get_serves_queries_only,
    answers_a_batch_with_an_array,
    malformed_operations_get_coded_errors,
    internal_errors_show_an_id_not_the_cause,
    health_and_readiness,
);

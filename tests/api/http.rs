//! The HTTP surface: GET and batched POST, GraphQL-level errors, internal errors, health, playground.

use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{CREATE_USER, USERS, assert_no_errors, captured_logs, error_code};

each_backend! {
    /// GET serves queries; a mutation over GET is refused with 405 and writes nothing.
    async fn get_serves_queries_only(app) {
        let response = app.client.get(app.url("/graphql")).query(&[("query", "{ users { totalCount } }")]).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["users"]["totalCount"], 0);

        let mutation = r#"mutation { createUser(input: { name: "Eve", email: "eve@example.com" }) { user { id } } }"#;
        let response = app.client.get(app.url("/graphql")).query(&[("query", mutation)]).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
        assert_eq!(app.write_counts().await, (0, 0));
    }
}

each_backend! {
    /// A JSON array of operations is answered with an array, in order.
    async fn answers_a_batch_with_an_array(app) {
        let batch = json!([
            { "query": CREATE_USER, "variables": { "input": { "name": "Ada", "email": "ada@example.com" } } },
            { "query": "{ users(pageSize: 0) { totalCount } }" },
        ]);
        let response = app.client.post(app.url("/graphql")).json(&batch).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Vec<Value> = response.json().await.unwrap();
        assert_eq!(body.len(), 2);
        assert_eq!(body[0]["data"]["createUser"]["user"]["name"], "Ada");
        assert_eq!(error_code(&body[1]), "BAD_USER_INPUT");

        // More than 32 operations in one request are refused before any runs.
        let batch: Vec<Value> = (0..33)
            .map(|i| json!({ "query": CREATE_USER, "variables": { "input": { "name": "Many", "email": format!("m{i}@example.com") } } }))
            .collect();
        let response = app.client.post(app.url("/graphql")).json(&batch).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "BATCH_LIMIT_EXCEEDED");
        assert_eq!(app.write_counts().await, (1, 1));
    }
}

each_backend! {
    /// Syntax errors, validation errors and unknown fields are GraphQL errors with codes, not HTTP 500s.
    async fn malformed_operations_get_coded_errors(app) {
        let cases = [
            ("{ users( }", "GRAPHQL_PARSE_FAILED"),
            ("{ users { nope } }", "GRAPHQL_VALIDATION_FAILED"),
            ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
            (r#"{ users(page: "one") { totalCount } }"#, "GRAPHQL_VALIDATION_FAILED"),
            ("{ user { id } }", "GRAPHQL_VALIDATION_FAILED"),
        ];
        for (query, code) in cases {
            let body = app.graphql(query, json!({})).await;
            assert_eq!(error_code(&body), code, "{query}");
            assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
        }
        // A variable of the wrong type.
        let body = app.graphql(USERS, json!({ "page": "one", "pageSize": 1 })).await;
        assert!(body["errors"][0]["extensions"]["code"].is_string(), "{body:#}");
        assert!(body["data"].is_null());
    }
}

each_backend! {
    /// An internal failure answers INTERNAL_SERVER_ERROR with an errorId, shows no SQL, and the
    /// log line of the cause carries the same errorId.
    async fn internal_errors_show_an_id_not_the_cause(app) {
        app.execute_on_read_db("DROP TABLE users_view").await;
        let body = app.graphql("{ users { totalCount items { id } } }", json!({})).await;
        assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR");
        let error = &body["errors"][0];
        let error_id = error["extensions"]["errorId"].as_str().expect("errorId").to_owned();
        let text = error.to_string().to_lowercase();
        for leak in ["users_view", "select", "sql", "table", "relation", "/"] {
            assert!(!text.contains(leak), "{leak:?} leaked to the client: {text}");
        }
        let logs = captured_logs();
        let line = logs.lines().find(|l| l.contains(&error_id)).expect("a log line with the errorId");
        assert!(line.contains("users_view"), "the log names the cause: {line}");
    }
}

each_backend! {
    /// /healthz answers; /readyz reports both databases and the projection.
    async fn health_and_readiness(app) {
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["writeDatabase"], "ok");
        assert_eq!(body["readDatabase"], "ok");
        assert_eq!(body["projection"]["state"], "ok");
    }
}

each_backend! {
    /// The playground and its assets are served from the binary, reference nothing off-site, and
    /// open with the example operations.
    async fn serves_the_playground_offline(app) {
        let response = app.client.get(app.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(html.contains("GraphiQL"));
        for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!html.contains(attribute), "off-site reference {attribute} in {html}");
        }
        let assets: Vec<&str> = html
            .split('"')
            .filter(|s| s.starts_with("/playground/"))
            .collect();
        assert!(!assets.is_empty(), "no assets in {html}");
        for asset in assets {
            let response = app.client.get(app.url(asset)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{asset}");
            let etag = response.headers()["etag"].clone();
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            let body = response.text().await.unwrap();
            if asset.ends_with(".js") {
                assert!(content_type.contains("javascript"), "{asset}: {content_type}");
                for operation in ["mutation CreateUser", "mutation UpdateUserName", "mutation DeleteUser", "query GetUser", "query ListUsers"] {
                    assert!(body.contains(operation), "the playground lacks {operation}");
                }
            }
            let revalidated = app.client.get(app.url(asset)).header("if-none-match", etag).send().await.unwrap();
            assert_eq!(revalidated.status(), 304, "{asset}");
        }
        let response = app.client.get(app.url("/playground/nope.js")).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
}

each_backend! {
    /// The example operations the playground opens with run as they are against the server.
    async fn playground_examples_run(app) {
        let variables = |name: &str| -> Value {
            let path = format!("{}/playground/operations/{name}.variables.json", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let created = app.graphql(CREATE_USER, variables("createUser")).await;
        assert_no_errors(&created);
        let id = created["data"]["createUser"]["user"]["id"].clone();
        let with_id = |name: &str| -> Value {
            let mut vars = variables(name);
            if vars.get("input").is_some() {
                vars["input"]["id"] = id.clone();
            } else {
                vars["id"] = id.clone();
            }
            vars
        };
        assert_no_errors(&app.graphql(crate::helpers::UPDATE_USER_NAME, with_id("updateUserName")).await);
        assert_no_errors(&app.graphql(USERS, variables("users")).await);
        let token = app.create_user("Probe", "probe@example.com").await["consistencyToken"].clone();
        let mut vars = with_id("user");
        vars["consistencyToken"] = token;
        let body = app.graphql(crate::helpers::USER, vars).await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["user"]["version"], 2);
        assert_no_errors(&app.graphql(crate::helpers::DELETE_USER, with_id("deleteUser")).await);
    }
}

//! The log an operator reads: one line per GraphQL operation, every line of a request with the
//! request's id (the same id the response, its errors and its events carry), JSON on demand,
//! and a filter that names no level refused at start.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_USER, TestApp, binary, both_engines, spawn_app, spawn_app_with,
};

/// POSTs `query` with `x-request-id: id` (when given); the body and the id answered.
async fn post(app: &TestApp, id: Option<&str>, query: &str, variables: Value) -> (Value, String) {
    let mut request = app.http().post(app.url("/graphql"));
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    let body = json!({ "query": query, "variables": variables });
    let response = request.json(&body).send().await.expect("request sent");
    let answered = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (response.json().await.expect("JSON body"), answered)
}

/// The client's request id is kept: answered, on the operation's log line, in the request span of
/// every line, on each error, and stored with the event the request caused.
async fn a_request_id_follows_the_request_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = format!("obs-{}", uuid::Uuid::now_v7());
    let input = json!({ "input": { "name": "Ada", "email": "ada@example.com" } });
    let (created, answered) = post(&app, Some(&id), CREATE_USER, input.clone()).await;
    assert!(created.get("errors").is_none(), "{created:#}");
    assert_eq!(answered, id);

    let (taken, answered) = post(&app, Some(&id), CREATE_USER, input).await;
    assert_eq!(answered, id);
    assert_eq!(taken["errors"][0]["extensions"]["code"], "CONFLICT");
    assert_eq!(taken["errors"][0]["extensions"]["requestId"], id.as_str());

    let log = app.log().await;
    assert_eq!(log[0].correlation_id.as_deref(), Some(id.as_str()));

    let logs = app.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("graphql operation"))
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    for line in &lines {
        assert!(line.contains(&format!("request_id={id}")), "{line}");
        assert!(line.contains("operation=CreateUser"), "{line}");
        assert!(line.contains("type=mutation"), "{line}");
        assert!(line.contains("duration_ms="), "{line}");
    }
    assert!(lines[0].contains("outcome=ok"), "{}", lines[0]);
    assert!(lines[1].contains("outcome=CONFLICT"), "{}", lines[1]);
}

/// Without a usable id from the client, the server makes one: the same in the response header,
/// the errors and the log; and every error of a response carries it.
async fn a_made_up_request_id_is_one_id_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let unusable = "not usable: spaces and more spaces";
    let missing = "01890000-0000-7000-8000-000000000000";
    let two_reads = "query Two($id: ID!) { a: user(id: $id) { id } b: user(id: $id) { id } }";
    let (body, answered) = post(&app, Some(unusable), two_reads, json!({ "id": missing })).await;
    assert_ne!(answered, unusable);
    let errors = body["errors"].as_array().expect("two errors");
    assert_eq!(errors.len(), 2, "{body:#}");
    for error in errors {
        assert_eq!(
            error["extensions"]["requestId"],
            answered.as_str(),
            "{body:#}"
        );
    }
    let (body, answered) = post(&app, None, "{ nope }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        answered.as_str()
    );
    let logs = app.logs();
    assert!(logs.contains(&format!("request_id={answered}")), "{logs}");
}

/// `--no-operation-log` leaves the operation lines out.
async fn the_operation_log_can_be_turned_off(backend: Backend) {
    let app = spawn_app_with(backend, &["--no-operation-log"]).await;
    app.create_user("Ada", "ada@example.com").await;
    let logs = app.logs();
    assert!(!logs.contains("graphql operation"), "{logs}");
}

both_engines!(
    a_request_id_follows_the_request_everywhere,
    a_made_up_request_id_is_one_id_too,
    the_operation_log_can_be_turned_off,
);

/// `--log-format json`: every line standard error gets is one JSON object.
#[test]
fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/write.db");
    let output = binary()
        .args(["--log-format", "json", "projections", "status"])
        .args(["--database-url", &format!("sqlite://{}", missing.display())])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(object["level"], "ERROR", "{line}");
        assert!(object["message"].is_string(), "{line}");
    }
}

/// A `--log-level` that names no level is refused before anything starts, with the reason.
#[test]
fn an_unknown_log_level_is_refused() {
    for level in ["verbose", "info,chatty", "cqrs_users=loud"] {
        let output = binary()
            .args(["--log-level", level, "print-schema"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{level}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("--log-level") && stderr.contains("names no level"),
            "{stderr}"
        );
    }
    let output = binary()
        .args(["--log-level", "warn,cqrs_users=debug", "print-schema"])
        .output()
        .unwrap();
    assert!(output.status.success());
}

//! The binary as an operator runs it: defaults with no setup, print-schema, graceful SIGTERM.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{binary, serve_binary};

#[test]
fn print_schema_writes_the_published_sdl() {
    let output = binary().arg("print-schema").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        cqrs_users::graphql::sdl()
    );
}

/// With no configuration the server makes SQLite files under ./data, serves, and stops cleanly on SIGTERM.
#[tokio::test]
async fn serves_on_sqlite_with_no_setup_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary();
    command.current_dir(dir.path());
    let (mut child, address) = serve_binary(command);
    let client = reqwest::Client::new();
    let graphql = |query: String| {
        let request = client
            .post(format!("{address}/graphql"))
            .json(&json!({ "query": query }));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let body = graphql("mutation { createUser(input: { name: \"Ada\", email: \"ada@example.com\" }) { user { id } consistencyToken } }".to_owned()).await;
    let payload = &body["data"]["createUser"];
    let body = graphql(format!(
        "{{ user(id: \"{}\", consistencyToken: \"{}\") {{ name }} }}",
        payload["user"]["id"].as_str().unwrap(),
        payload["consistencyToken"].as_str().unwrap()
    ))
    .await;
    assert_eq!(body["data"]["user"]["name"], "Ada");
    assert_eq!(
        client
            .get(format!("{address}/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    assert!(dir.path().join("data/write.db").exists());
    assert!(dir.path().join("data/read.db").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit after SIGTERM: {exit}");
}

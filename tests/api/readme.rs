//! README.md's "Example operations" work as pasted: its shell blocks run, in order, in bash
//! against a fresh server, every answer without errors; its subscription replays what they did.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::ws::{Protocol, Socket};
use crate::helpers::{Backend, both_engines, spawn_app};

/// Where the README's examples send their requests.
const README_SERVER: &str = "http://127.0.0.1:8000";

async fn the_example_operations_work_as_pasted(backend: Backend) {
    let app = spawn_app(backend).await;
    let section = example_operations();
    let script = blocks(&section, "sh").join("\n");
    assert!(script.contains(README_SERVER), "{script}");
    let script = script.replace(README_SERVER, app.address());
    let jq = Command::new("jq").arg("--version").output();
    assert!(jq.is_ok_and(|o| o.status.success()), "the examples need jq");

    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n{script}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let calls = script.matches("gql '").count();
    assert_eq!(answers.len(), calls, "one answer per call: {stdout}");
    for answer in &answers {
        assert!(answer.get("errors").is_none(), "{answer:#}");
        let data = answer["data"].as_object();
        assert!(
            data.is_some_and(|d| d.values().all(|v| !v.is_null())),
            "{answer:#}"
        );
    }
    let renamed = &answers[3]["data"]["updateUserName"]["user"];
    assert_eq!(renamed["name"], "Ada King", "{stdout}");

    // The subscription the section shows replays the three events the calls caused.
    let [subscription] = blocks(&section, "graphql")
        .try_into()
        .expect("one subscription");
    let mut socket = Socket::connect(app.address(), Protocol::TransportWs).await;
    socket.init().await;
    let payload = json!({ "query": subscription });
    socket
        .send(json!({ "id": "1", "type": "subscribe", "payload": payload }))
        .await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let message = socket
            .receive(Duration::from_secs(10))
            .await
            .expect("an event");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        kinds.push(message["payload"]["data"]["userEvents"]["__typename"].clone());
    }
    assert_eq!(kinds, ["UserCreated", "UserRenamed", "UserDeleted"]);
}

/// The README's "Example operations" section, up to the next section of its level.
fn example_operations() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("\n## Example operations")
        .expect("an Example operations section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    rest[..end].to_owned()
}

/// The contents of the fenced blocks of `language` in `markdown`, in order.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}\n");
    markdown
        .split(&fence)
        .skip(1)
        .map(|after| after[..after.find("```").expect("a closing fence")].to_owned())
        .collect()
}

both_engines!(the_example_operations_work_as_pasted);

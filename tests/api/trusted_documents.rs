//! `--trusted-documents`: only the operations of an Apollo persisted query manifest run, by id
//! or by their exact text, over POST, GET and WebSocket; anything else is refused with
//! `OPERATION_NOT_TRUSTED`, introspection included, and nothing is written or registered. A
//! manifest that does not check out stops the start.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::persisted::{get, persisted, post, sha256_hex};
use crate::helpers::ws::{Protocol, Socket, USER_EVENTS};
use crate::helpers::{
    Backend, CREATE_USER, USERS, assert_no_errors, binary, both_engines, error_code, spawn_app_with,
};

/// A manifest listing `operations` (type, body), each under its SHA-256.
fn manifest(operations: &[(&str, &str)]) -> Value {
    let operations: Vec<Value> = operations
        .iter()
        .enumerate()
        .map(|(i, (kind, body))| {
            json!({ "id": sha256_hex(body), "name": format!("Op{i}"), "type": kind, "body": body })
        })
        .collect();
    json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations })
}

fn write(dir: &tempfile::TempDir, manifest: &Value) -> String {
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn input(name: &str) -> Value {
    let email = format!("{}@example.com", name.to_lowercase());
    json!({ "input": { "name": name, "email": email } })
}

/// Listed operations run by hash (POST and GET) and by their exact text; an unlisted text (the
/// listed one with a space more), an unlisted hash, a registration attempt and introspection are
/// refused with `OPERATION_NOT_TRUSTED`, and write nothing.
async fn only_listed_operations_run(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let listed = manifest(&[("query", USERS), ("mutation", CREATE_USER)]);
    let path = write(&dir, &listed);
    let app = spawn_app_with(backend, &["--trusted-documents", &path]).await;

    let by_text = json!({ "query": CREATE_USER, "variables": input("Ada") });
    let (_, _, body) = post(&app, &by_text).await;
    assert_no_errors(&body);
    let token = body["data"]["createUser"]["consistencyToken"].clone();
    let vars = json!({ "page": 1, "pageSize": 10, "consistencyToken": token });
    let by_hash = json!({ "variables": vars, "extensions": persisted(&sha256_hex(USERS)) });
    let (_, _, body) = post(&app, &by_hash).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["users"]["totalCount"], 1, "{body}");
    let params = [
        ("variables", vars),
        ("extensions", persisted(&sha256_hex(USERS))),
    ];
    let response = get(&app, &params).await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        body,
        "by hash over GET"
    );
    let before = app.write_counts().await;

    let altered = format!("{CREATE_USER} ");
    let unlisted_user = "{ users { items { email } } }";
    let refused = [
        json!({ "query": altered, "variables": input("Mallory") }),
        json!({ "variables": input("Mallory"), "extensions": persisted(&sha256_hex(&altered)) }),
        json!({
            "query": altered, "variables": input("Mallory"),
            "extensions": persisted(&sha256_hex(&altered)),
        }),
        json!({ "query": unlisted_user }),
        json!({ "query": "{ __schema { queryType { name } } }" }),
    ];
    for request in refused {
        let (status, _, body) = post(&app, &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            error_code(&body),
            "OPERATION_NOT_TRUSTED",
            "{request}: {body}"
        );
        assert!(body["data"].is_null(), "{body}");
    }
    // Nothing was registered by the attempt above.
    let by_hash = json!({ "extensions": persisted(&sha256_hex(&altered)) });
    let (_, _, body) = post(&app, &by_hash).await;
    assert_eq!(error_code(&body), "OPERATION_NOT_TRUSTED", "{body}");
    // The text a listed id names must be that id's.
    let swapped = json!({ "query": altered, "extensions": persisted(&sha256_hex(CREATE_USER)) });
    let (_, _, body) = post(&app, &swapped).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_HASH_MISMATCH", "{body}");
    app.assert_unharmed(before).await;
}

/// Over WebSocket: a listed subscription runs by hash (it replays the user created before), an
/// unlisted one is answered `OPERATION_NOT_TRUSTED` and the socket goes on.
async fn subscriptions_are_held_to_the_manifest(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let listed = manifest(&[("mutation", CREATE_USER), ("subscription", USER_EVENTS)]);
    let path = write(&dir, &listed);
    let app = spawn_app_with(backend, &["--trusted-documents", &path]).await;
    let (_, _, body) = post(
        &app,
        &json!({ "query": CREATE_USER, "variables": input("Ada") }),
    )
    .await;
    assert_no_errors(&body);

    let mut socket = Socket::connect(app.address(), Protocol::TransportWs).await;
    socket.init().await;
    let unlisted = format!("{USER_EVENTS} ");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": unlisted } });
    socket.send(subscribe).await;
    // async-graphql answers a refused operation with its errors in a `next`, then `complete`.
    let refused = socket
        .receive(Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["id"], "1");
    assert!(refused["payload"]["data"].is_null(), "{refused}");
    let code = &refused["payload"]["errors"][0]["extensions"]["code"];
    assert_eq!(code, "OPERATION_NOT_TRUSTED", "{refused}");
    let complete = socket
        .receive(Duration::from_secs(5))
        .await
        .expect("complete");
    assert_eq!(complete, json!({ "id": "1", "type": "complete" }));

    let payload = json!({ "variables": {}, "extensions": persisted(&sha256_hex(USER_EVENTS)) });
    let subscribe = json!({ "id": "2", "type": "subscribe", "payload": payload });
    socket.send(subscribe).await;
    let event = socket
        .receive(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "2");
    assert_eq!(
        event["payload"]["data"]["userEvents"]["name"], "Ada",
        "{event}"
    );
}

/// The binary refuses to start on a manifest it cannot use, and says why.
#[test]
fn a_manifest_that_does_not_check_out_stops_the_start() {
    let bad = [
        (
            json!({ "format": "something-else", "version": 1, "operations": [] }),
            "format",
        ),
        (manifest(&[("query", "{ users {")]), "does not parse"),
        (
            manifest(&[("query", CREATE_USER)]),
            "is a mutation, not a query",
        ),
        (
            json!({ "operations": "none" }),
            "not a persisted query manifest",
        ),
    ];
    for (listed, why) in bad {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, &listed);
        let output = binary()
            .current_dir(dir.path())
            .args(["--listen", "127.0.0.1:0", "--trusted-documents", &path])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "started with {listed}");
        assert!(stderr.contains(why), "{why:?} not in: {stderr}");
    }
}

both_engines!(
    only_listed_operations_run,
    subscriptions_are_held_to_the_manifest,
);

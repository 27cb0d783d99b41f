//! The playground: its page and assets served from the binary (precompressed when the client
//! accepts it), and its example tabs running in order as the page carries ids and tokens along.

use std::io::Read;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::ws::{Protocol, Socket};
use crate::helpers::{
    Backend, CREATE_USER, DELETE_USER, UPDATE_USER_NAME, USER, USERS, assert_no_errors,
    both_engines, spawn_app,
};

const USER_EVENTS: &str = include_str!("../../playground/operations/userEvents.graphql");

/// The playground and its assets are served from the binary, reference nothing off-site, and
/// open with the example operations.
async fn serves_the_playground_offline(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = async |path: &str| app.http().get(app.url(path)).send().await.unwrap();
    let response = get("/").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("GraphiQL"));
    for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(attribute),
            "off-site reference {attribute} in {html}"
        );
    }
    let assets: Vec<&str> = html
        .split('"')
        .filter(|s| s.starts_with("/playground/"))
        .collect();
    assert!(!assets.is_empty(), "no assets in {html}");
    let operations = [
        "mutation CreateUser",
        "query GetUser",
        "mutation UpdateUserName",
        "query ListUsers",
        "mutation DeleteUser",
        "subscription UserEvents",
    ];
    for asset in assets {
        let response = get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        let etag = response.headers()["etag"].clone();
        let content_type = response.headers()["content-type"].to_str().unwrap();
        let content_type = content_type.to_owned();
        let body = response.text().await.unwrap();
        if asset.ends_with(".js") {
            assert!(
                content_type.contains("javascript"),
                "{asset}: {content_type}"
            );
            for operation in operations {
                assert!(body.contains(operation), "the playground lacks {operation}");
            }
        }
        let revalidate = app.http().get(app.url(asset)).header("if-none-match", etag);
        let revalidated = revalidate.send().await.unwrap();
        assert_eq!(revalidated.status(), 304, "{asset}");
    }
    assert_eq!(get("/playground/nope.js").await.status(), 404);
}

/// The 1.3 MB script goes out precompressed to a client that accepts it, brotli or gzip as it
/// weighs them, decoding to exactly the file at under half its size; raw to one that does not.
/// Each variant has its own `ETag`, and a revalidation gets a `304` for the variant it holds.
async fn playground_assets_are_sent_compressed(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/playground/assets/playground.js";
    let get = async |headers: &[(&str, &str)]| {
        let mut request = app.http().get(app.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.bytes().await.unwrap().to_vec())
    };
    let encoding = |headers: &HeaderMap| {
        let value = headers.get("content-encoding");
        value.map(|v| v.to_str().unwrap().to_owned())
    };

    let (status, headers, raw) = get(&[]).await;
    assert_eq!(status, 200);
    assert_eq!(encoding(&headers), None);
    assert_eq!(headers["vary"], "accept-encoding");
    let file = format!(
        "{}/playground/dist/assets/playground.js",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(raw == std::fs::read(file).unwrap(), "not the raw file");
    let raw_etag = headers["etag"].to_str().unwrap().to_owned();

    let mut etags = vec![raw_etag.clone()];
    for (accept, expected) in [
        ("gzip", "gzip"),
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
    ] {
        let (status, headers, body) = get(&[("accept-encoding", accept)]).await;
        assert_eq!(status, 200, "{accept}");
        assert_eq!(encoding(&headers).as_deref(), Some(expected), "{accept}");
        assert_eq!(headers["vary"], "accept-encoding");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
        let mut decoded = Vec::new();
        match expected {
            "gzip" => flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut decoded),
            _ => brotli_decompressor::Decompressor::new(&body[..], 4096).read_to_end(&mut decoded),
        }
        .unwrap();
        assert!(decoded == raw, "{expected} does not decode to the file");
        let ratio = body.len() as f64 / raw.len() as f64;
        assert!(
            ratio < 0.5,
            "{expected}: {} of {} bytes",
            body.len(),
            raw.len()
        );

        let etag = headers["etag"].to_str().unwrap().to_owned();
        let (status, headers, _) =
            get(&[("accept-encoding", accept), ("if-none-match", &etag)]).await;
        assert_eq!(status, 304, "{accept}");
        assert_eq!(headers["etag"].to_str().unwrap(), etag);
        // The raw file's tag does not match a compressed variant: the client gets the body.
        let stale = [
            ("accept-encoding", accept),
            ("if-none-match", &raw_etag[..]),
        ];
        assert_eq!(get(&stale).await.0, 200, "{accept}");
        if !etags.contains(&etag) {
            etags.push(etag);
        }
    }
    assert_eq!(etags.len(), 3, "one ETag per variant: {etags:?}");

    // Refused codings (q=0) and unknown ones get the raw file.
    for accept in ["br;q=0, gzip;q=0", "identity", "zstd", "*;q=0"] {
        let (status, headers, body) = get(&[("accept-encoding", accept)]).await;
        assert_eq!(status, 200, "{accept}");
        assert_eq!(encoding(&headers), None, "{accept}");
        assert!(body == raw, "{accept}: not the raw file");
    }
}

/// The example tabs run in the playground's order, each with its variables file and, as the
/// page fills them in, the id, version (`expectedVersion`) and token of the write before; the
/// subscription tab then streams what they did.
async fn playground_examples_run(backend: Backend) {
    let app = spawn_app(backend).await;
    let variables = |name: &str| -> Value {
        let dir = env!("CARGO_MANIFEST_DIR");
        let path = format!("{dir}/playground/operations/{name}.variables.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    // What main.js's `withWrite` does: set the keys a tab has, at the top or in `input`.
    let carry = |mut vars: Value, write: &Value| -> Value {
        let values = [
            ("id", &write["user"]["id"]),
            ("expectedVersion", &write["user"]["version"]),
            ("consistencyToken", &write["consistencyToken"]),
        ];
        for (key, value) in values.into_iter().filter(|(_, v)| !v.is_null()) {
            if vars.get(key).is_some() {
                vars[key] = value.clone();
            }
            if vars["input"].get(key).is_some() {
                vars["input"][key] = value.clone();
            }
        }
        vars
    };

    let created = app.graphql(CREATE_USER, variables("createUser")).await;
    assert_no_errors(&created);
    let write = created["data"]["createUser"].clone();
    let id = write["user"]["id"].clone();

    let read = app.graphql(USER, carry(variables("user"), &write)).await;
    assert_no_errors(&read);
    assert_eq!(read["data"]["user"], write["user"]);

    let renamed = app
        .graphql(UPDATE_USER_NAME, carry(variables("updateUserName"), &write))
        .await;
    assert_no_errors(&renamed);
    let write = renamed["data"]["updateUserName"].clone();
    assert_eq!(write["user"]["version"], 2);

    let listed = app.graphql(USERS, carry(variables("users"), &write)).await;
    assert_no_errors(&listed);
    let items = &listed["data"]["users"]["items"];
    assert_eq!(items[0]["id"], id);
    assert_eq!(
        items[0]["name"], write["user"]["name"],
        "read after the rename"
    );

    let deleted = app
        .graphql(DELETE_USER, carry(variables("deleteUser"), &write))
        .await;
    assert_no_errors(&deleted);
    assert_eq!(deleted["data"]["deleteUser"]["deletedUserId"], id);

    let mut socket = Socket::connect(app.address(), Protocol::TransportWs).await;
    socket.init().await;
    let payload = json!({ "query": USER_EVENTS, "variables": variables("userEvents") });
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": payload });
    socket.send(subscribe).await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let message = socket.receive(Duration::from_secs(10)).await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        let event = &message["payload"]["data"]["userEvents"];
        assert_eq!(event["userId"], id);
        kinds.push(event["__typename"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds, ["UserCreated", "UserRenamed", "UserDeleted"]);
}

both_engines!(
    serves_the_playground_offline,
    playground_assets_are_sent_compressed,
    playground_examples_run,
);

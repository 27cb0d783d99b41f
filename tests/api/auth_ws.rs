//! Authentication on WebSockets and key rotation: a socket is who its `connection_init` token
//! says (Apollo's `connectionParams`), is closed with 4403 when that token is not valid or
//! expires, and keys read from a JWKS file rotate without a restart.

use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::secured;
use crate::helpers::tokens::{self, Key, claims};
use crate::helpers::ws::{Protocol, Socket};
use crate::helpers::{Backend, both_engines, eventually, spawn_app_with};

const WAIT: Duration = Duration::from_secs(10);

/// The first error code of a `next`/`data`/`error` message.
fn code(message: &Value) -> &str {
    let errors = match message["payload"].get("errors") {
        Some(errors) => errors,
        None => &message["payload"],
    };
    errors[0]["extensions"]["code"].as_str().unwrap_or_default()
}

/// A token in `connection_init` makes the socket its subject: `users:read` streams events, a
/// token without it is `FORBIDDEN`, and a socket without a token is `UNAUTHENTICATED`, on both
/// protocols and both ways Apollo clients send it.
async fn a_socket_is_who_its_connection_init_token_says(backend: Backend) {
    let app = secured(backend, Key::Rs256, &[]).await;
    let writer = app.with_token(&Key::Rs256.token("writer", "users:write"));
    writer.create_user("Ada", "ada@example.com").await;
    let reader = Key::Rs256.token("reader", "users:read");
    let inits = [
        (
            Protocol::TransportWs,
            json!({ "authorization": format!("Bearer {reader}") }),
        ),
        (
            Protocol::LegacyWs,
            json!({ "Authorization": format!("Bearer {reader}") }),
        ),
        (Protocol::TransportWs, json!({ "token": reader })),
    ];
    for (protocol, payload) in inits {
        let mut socket = Socket::connect(app.address(), protocol).await;
        socket.init_with(payload.clone()).await;
        let ack = socket.receive(WAIT).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{payload}: {ack}");
        socket.subscribe("1", None).await;
        let event = socket.receive(WAIT).await.expect("an event");
        let event = &event["payload"]["data"]["userEvents"];
        assert_eq!(event["name"], "Ada", "{payload}: {event}");
        assert_eq!(event["actor"], "writer", "{payload}: {event}");
        assert!(event["correlationId"].is_string(), "{event}");
    }

    let writer_only = Key::Rs256.token("writer", "users:write");
    let refusals = [
        (
            json!({ "authorization": format!("Bearer {writer_only}") }),
            "FORBIDDEN",
        ),
        (json!({}), "UNAUTHENTICATED"),
    ];
    for (payload, expected) in refusals {
        let mut socket = Socket::connect(app.address(), Protocol::TransportWs).await;
        socket.init_with(payload.clone()).await;
        let ack = socket.receive(WAIT).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        socket.subscribe("1", None).await;
        let refused = socket.receive(WAIT).await.expect("an answer");
        assert_eq!(code(&refused), expected, "{payload}: {refused}");
        assert!(
            refused["payload"]["data"]["userEvents"].is_null(),
            "{refused}"
        );
    }
}

/// A `connection_init` whose token is not valid closes the socket with 4403 before anything is
/// acknowledged, on both protocols.
async fn a_socket_with_a_bad_token_is_closed(backend: Backend) {
    let app = secured(backend, Key::Rs256, &[]).await;
    let mut expired = claims("reader", "users:read");
    expired["exp"] = (tokens::now() - 3600).into();
    let bad = [
        Key::Rs256.sign(&expired, None),
        Key::Rs256Stranger.token("reader", "users:read"),
        tokens::unsigned(&claims("reader", "users:read")),
        "not a token".to_owned(),
    ];
    for protocol in [Protocol::TransportWs, Protocol::LegacyWs] {
        for token in &bad {
            let mut socket = Socket::connect(app.address(), protocol).await;
            socket
                .init_with(json!({ "authorization": format!("Bearer {token}") }))
                .await;
            assert_eq!(socket.closed(WAIT).await, Some(4403), "{token}");
        }
    }
    let before = app.write_counts().await;
    app.assert_unharmed(before).await;
}

/// A socket lives as long as its token: when the token expires the server closes it with 4403
/// (graphql-ws clients then reconnect with fresh `connectionParams`).
async fn a_socket_is_closed_when_its_token_expires(backend: Backend) {
    let app = secured(backend, Key::Rs256, &["--jwt-leeway-s", "0"]).await;
    let mut short = claims("reader", "users:read");
    short["exp"] = (tokens::now() + 3).into();
    let token = Key::Rs256.sign(&short, None);
    let mut socket = Socket::connect(app.address(), Protocol::TransportWs).await;
    socket
        .init_with(json!({ "authorization": format!("Bearer {token}") }))
        .await;
    let ack = socket.receive(WAIT).await.expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket.subscribe("1", None).await;
    assert_eq!(socket.closed(Duration::from_secs(15)).await, Some(4403));
}

/// Keys from a JWKS file rotate without a restart: once the file names only the new key, the
/// old key's tokens are refused and the new key's accepted.
async fn jwks_keys_rotate_without_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let path_text = path.to_string_lossy().into_owned();
    std::fs::write(&path, tokens::jwks(&[Key::Rs256.jwk("old")])).unwrap();
    let flags = [
        "--jwt-jwks-file",
        &path_text,
        "--jwt-keys-reload-ms",
        "100",
        "--jwt-issuer",
        tokens::ISSUER,
        "--jwt-audience",
        tokens::AUDIENCE,
    ];
    let app = spawn_app_with(backend, &flags).await;
    let old = Key::Rs256.sign(&claims("ops", "users:read"), Some("old"));
    let new = Key::Rs256Stranger.sign(&claims("ops", "users:read"), Some("new"));
    let status = async |token: &str| {
        let request = app.http().post(app.url("/graphql")).bearer_auth(token);
        let sent = request.json(&json!({ "query": "{ users { totalCount } }" }));
        sent.send().await.unwrap().status().as_u16()
    };
    assert_eq!(status(&old).await, 200);
    assert_eq!(status(&new).await, 401);

    std::fs::write(&path, tokens::jwks(&[Key::Rs256Stranger.jwk("new")])).unwrap();
    eventually(WAIT, "the new key to be trusted", async || {
        match status(&new).await {
            200 => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert_eq!(status(&old).await, 401, "the retired key still signs");

    std::fs::write(&path, "{ this is not a JWKS").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(&new).await,
        200,
        "a broken file keeps the keys that worked"
    );
}

both_engines!(
    a_socket_is_who_its_connection_init_token_says,
    a_socket_with_a_bad_token_is_closed,
    a_socket_is_closed_when_its_token_expires,
    jwks_keys_rotate_without_a_restart,
);

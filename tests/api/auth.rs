//! Authentication and scopes over HTTP, from the caller's side and the attacker's: each scope
//! allowed its own operations and refused the others, `users:write:self` held to its own user
//! without revealing whether another exists, forged and stale tokens refused before anything
//! runs, and every event recording who caused it and under which request.

use serde_json::{Value, json};

use crate::helpers::tokens::{self, Key, claims};
use crate::helpers::{
    Backend, CREATE_USER, TestApp, USER, assert_refused, both_engines, spawn_app, spawn_app_with,
};

const READ: &str = "users:read";
const WRITE: &str = "users:write";
const WRITE_SELF: &str = "users:write:self";

/// A server that trusts `key`, with these extra flags.
pub async fn secured(backend: Backend, key: Key, extra: &[&str]) -> TestApp {
    let flags = key.server_flags();
    let flags: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect();
    spawn_app_with(backend, &flags).await
}

fn create_body(email: &str) -> Value {
    json!({ "query": CREATE_USER, "variables": { "input": { "name": "Eve", "email": email } } })
}

/// Each scope does what it names and nothing else; without a token nothing that needs one runs
/// (introspection and `__typename` still answer, so the playground and codegen work).
async fn each_scope_allows_its_own_operations_only(backend: Backend) {
    let app = secured(backend, Key::Rs256, &[]).await;
    let writer = app.with_token(&Key::Rs256.token("writer", WRITE));
    let reader = app.with_token(&Key::Rs256.token("reader", READ));
    let both = app.with_token(&Key::Rs256.token("admin", &format!("{READ} {WRITE}")));
    let nothing = app.with_token(&Key::Rs256.token("nobody", "profile email"));

    let created = writer.create_user("Ada", "ada@example.com").await;
    let id = &created.user.id;
    let read = reader.user_eventually(id, &created.consistency_token).await;
    assert_eq!(read.name, "Ada");
    both.update_user_name(id, "Ada King", None).await.ok();

    let before = app.write_counts().await;
    for (who, client) in [("reader", &reader), ("no scope", &nothing)] {
        let refused = client.try_create_user("Eve", "eve@example.com").await;
        assert_eq!(refused.code(), "FORBIDDEN", "{who}: {refused}");
        let refused = client.update_user_name(id, "Eve", None).await;
        assert_eq!(refused.code(), "FORBIDDEN", "{who}: {refused}");
        let refused = client.delete_user(id, None).await;
        assert_eq!(refused.code(), "FORBIDDEN", "{who}: {refused}");
    }
    for (who, client) in [("writer", &writer), ("no scope", &nothing)] {
        let refused = client.user(id, None).await;
        assert_eq!(refused.code(), "FORBIDDEN", "{who}: {refused}");
        assert!(refused.data.is_none(), "{who} read a user: {refused}");
        let refused = client.users(1, 10, None).await;
        assert_eq!(refused.code(), "FORBIDDEN", "{who}: {refused}");
    }
    let anonymous = app.client();
    let refused = anonymous.try_create_user("Eve", "eve@example.com").await;
    assert_eq!(refused.code(), "UNAUTHENTICATED", "{refused}");
    let refused = anonymous.user(id, None).await;
    assert_eq!(refused.code(), "UNAUTHENTICATED", "{refused}");
    app.assert_unharmed(before).await;

    let schema = anonymous
        .graphql("{ __typename __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "Query");
}

/// `users:write:self` renames and deletes the user whose id is its `sub`, and no other: another
/// user and an id no user has are refused alike (`FORBIDDEN`, same message), so the scope does
/// not reveal who exists. It creates nobody.
async fn write_self_changes_only_its_own_user(backend: Backend) {
    let app = secured(backend, Key::Rs256, &[]).await;
    let admin = app.with_token(&Key::Rs256.token("admin", WRITE));
    let me = admin.create_user("Me", "me@example.com").await.user;
    let other = admin.create_user("Other", "other@example.com").await.user;
    let myself = app.with_token(&Key::Rs256.token(&me.id, WRITE_SELF));

    let before = app.write_counts().await;
    let nobody = "0190a1b2-0000-7000-8000-000000000000";
    let refusals = [
        myself.update_user_name(&other.id, "Mine now", None).await,
        myself.update_user_name(nobody, "Mine now", None).await,
    ];
    for refused in &refusals {
        assert_eq!(refused.code(), "FORBIDDEN", "{refused}");
    }
    assert_eq!(refusals[0].error().message, refusals[1].error().message);
    let deletes = [
        myself.delete_user(&other.id, Some(1)).await,
        myself.delete_user(nobody, Some(1)).await,
    ];
    for refused in &deletes {
        assert_eq!(refused.code(), "FORBIDDEN", "{refused}");
    }
    let refused = myself.try_create_user("New", "new@example.com").await;
    assert_eq!(refused.code(), "FORBIDDEN", "{refused}");
    app.assert_unharmed(before).await;

    let renamed = myself.update_user_name(&me.id, "Me, renamed", None).await;
    assert_eq!(renamed.ok().user.version, 2);
    let deleted = myself.delete_user(&me.id, Some(2)).await.ok();
    assert_eq!(deleted.deleted_user_id, me.id);
}

/// Tokens an attacker can make without the key, and honest ones used out of their time or
/// place: each refused with 401 `UNAUTHENTICATED` and a bearer challenge, nothing written, and
/// the server still answering.
async fn forged_and_stale_tokens_are_refused_before_anything_runs(backend: Backend) {
    let app = secured(backend, Key::Rs256, &["--jwt-leeway-s", "5"]).await;
    let good = claims("mallory", &format!("{READ} {WRITE}"));
    let edit = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let honest = Key::Rs256.token("mallory", READ);
    let cases = [
        (
            "expired",
            Key::Rs256.sign(&edit("exp", (tokens::now() - 60).into()), None),
        ),
        (
            "not yet valid",
            Key::Rs256.sign(&edit("nbf", (tokens::now() + 600).into()), None),
        ),
        (
            "wrong issuer",
            Key::Rs256.sign(&edit("iss", "https://evil.example".into()), None),
        ),
        (
            "wrong audience",
            Key::Rs256.sign(&edit("aud", "another-service".into()), None),
        ),
        (
            "no subject",
            Key::Rs256.sign(&edit("sub", Value::Null), None),
        ),
        ("another key", Key::Rs256Stranger.sign(&good, None)),
        ("alg none", tokens::unsigned(&good)),
        ("tampered", tokens::tampered(&honest, &good)),
        ("HS256 with the public key", tokens::confused(&good)),
        ("not a JWT", "hello".to_owned()),
    ];
    let before = app.write_counts().await;
    for (case, token) in cases {
        let response = app
            .http()
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&create_body("mallory@example.com"))
            .send()
            .await
            .unwrap();
        let challenge = response.headers().get("www-authenticate").cloned();
        let body = assert_refused(response, 401, "UNAUTHENTICATED").await;
        assert_eq!(
            challenge
                .and_then(|v| v.to_str().ok().map(str::to_owned))
                .as_deref(),
            Some(r#"Bearer error="invalid_token""#),
            "{case}: {body}"
        );
    }
    let basic = app
        .http()
        .post(app.url("/graphql"))
        .basic_auth("admin", Some("admin"));
    let response = basic
        .json(&create_body("basic@example.com"))
        .send()
        .await
        .unwrap();
    assert_refused(response, 401, "UNAUTHENTICATED").await;
    app.assert_unharmed(before).await;
    let query =
        json!({ "query": USER, "variables": { "id": "0190a1b2-0000-7000-8000-000000000000" } });
    let within_leeway = Key::Rs256.sign(&edit("exp", (tokens::now() - 2).into()), None);
    let response = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(within_leeway);
    let answered = response.json(&query).send().await.unwrap();
    assert_eq!(
        answered.status(),
        200,
        "a token within the leeway is accepted"
    );
}

/// Every algorithm the service takes verifies its own tokens: HS256 with a shared secret,
/// ES256 and EdDSA with a PEM public key (RS256 is every other test's).
async fn each_algorithm_verifies_its_tokens(backend: Backend) {
    for key in [Key::Hs256, Key::Es256, Key::EdDsa] {
        let app = secured(backend.clone(), key, &[]).await;
        let client = app.with_token(&key.token("ops", &format!("{READ} {WRITE}")));
        let created = client.create_user("Alg", "alg@example.com").await;
        let read = client
            .user_eventually(&created.user.id, &created.consistency_token)
            .await;
        assert_eq!(read.name, "Alg", "{key:?}");
        let stranger = Key::Rs256Stranger.token("ops", READ);
        let response = app.http().post(app.url("/graphql")).bearer_auth(stranger);
        let refused = response.json(&json!({ "query": "{ __typename }" }));
        let refused = refused.send().await.unwrap();
        assert_refused(refused, 401, "UNAUTHENTICATED").await;
    }
}

/// Each event records its actor (the token's `sub`, `anonymous` without authentication) and its
/// correlation id (the client's `x-request-id`, or the one the server made up and answered).
async fn events_record_who_and_which_request(backend: Backend) {
    let app = secured(backend.clone(), Key::Rs256, &[]).await;
    let token = Key::Rs256.token("alice@id.test", WRITE);
    let sent = app
        .http()
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .header("x-request-id", "req-42:abc")
        .json(&create_body("one@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.headers()["x-request-id"], "req-42:abc");
    let unnamed = app.http().post(app.url("/graphql")).bearer_auth(&token);
    let unnamed = unnamed
        .header("x-request-id", "spaces are not kept in an id")
        .json(&create_body("two@example.com"))
        .send()
        .await
        .unwrap();
    let made_up = unnamed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&made_up).is_ok(), "{made_up}");

    let log = app.log().await;
    let recorded: Vec<_> = log
        .iter()
        .map(|e| (e.actor.as_deref(), e.correlation_id.as_deref()))
        .collect();
    let expected = [
        (Some("alice@id.test"), Some("req-42:abc")),
        (Some("alice@id.test"), Some(made_up.as_str())),
    ];
    assert_eq!(recorded, expected);

    let dev = spawn_app(backend).await;
    dev.create_user("Dev", "dev@example.com").await;
    let log = dev.log().await;
    assert_eq!(log[0].actor.as_deref(), Some("anonymous"));
    assert!(log[0].correlation_id.is_some());
}

/// With authentication there is no DNS rebinding to fear (a page has no token to send), so any
/// `Host` is served, as behind a proxy or a load balancer.
async fn with_authentication_any_host_is_served(backend: Backend) {
    let app = secured(backend, Key::Rs256, &[]).await;
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("host", "users.internal.example")
        .bearer_auth(Key::Rs256.token("ops", READ))
        .json(&json!({ "query": "{ users { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["users"]["totalCount"], 0, "{body}");
}

both_engines!(
    each_scope_allows_its_own_operations_only,
    write_self_changes_only_its_own_user,
    forged_and_stale_tokens_are_refused_before_anything_runs,
    each_algorithm_verifies_its_tokens,
    events_record_who_and_which_request,
    with_authentication_any_host_is_served,
);

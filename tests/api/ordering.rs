//! The log's order under contention (PostgreSQL, two instances): many unconditional renames and
//! deletes of one user are logged in version order, so projection completes and subscribers get
//! each user's events in order; an email address handed from a deleted user to a new one is
//! logged delete first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cqrs_users::entities::user_events;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_USER, DELETE_USER, Server, TestApp, UPDATE_USER_NAME,
    assert_projected_exactly_once, error_code, spawn_app_with,
};
use crate::ws::{Protocol, Subscription};

/// Writers per hot user, spread over both instances.
const WRITERS: usize = 24;
const HOT_USERS: usize = 2;
const LOAD: Duration = Duration::from_secs(4);

/// 24 clients per user rename two users without `expectedVersion` for 4 s through two
/// instances, then 8 deletes per user race the renames. The log holds each user's versions in
/// order, the read model converges to the write model, and both a live subscriber and a replay
/// see each user's names chain from one event to the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renames_and_deletes_of_one_user_keep_version_order() {
    let Some((app, b)) = two_instances().await else {
        return;
    };
    let addresses = [app.address.clone(), b.address.clone()];
    let mut live = Subscription::user_events(&b.address, None, Protocol::TransportWs).await;

    let mut hot = Vec::new();
    for u in 0..HOT_USERS {
        let created = app
            .create_user(&format!("Hot {u}"), &format!("hot{u}@example.com"))
            .await;
        hot.push(created["user"]["id"].as_str().unwrap().to_owned());
    }

    let started = Instant::now();
    let renamers = (0..WRITERS * HOT_USERS).map(|w| {
        let (client, address, id) = (
            app.client.clone(),
            addresses[w % 2].clone(),
            hot[w % HOT_USERS].clone(),
        );
        tokio::spawn(async move {
            let mut renamed = 0;
            for i in 0.. {
                let name = format!("W{w} #{i}");
                let body = send(
                    &client,
                    &address,
                    UPDATE_USER_NAME,
                    json!({ "input": { "id": id, "name": name } }),
                )
                .await;
                match body.get("errors") {
                    None => renamed += 1,
                    Some(_) if error_code(&body) == "NOT_FOUND" => break,
                    Some(_) => panic!("rename failed: {body:#}"),
                }
                if started.elapsed() > LOAD * 2 {
                    break;
                }
            }
            renamed
        })
    });
    let renamers: Vec<_> = renamers.collect();
    tokio::time::sleep(LOAD).await;
    let deletes = (0..8 * HOT_USERS).map(|d| {
        let (client, address, id) = (
            app.client.clone(),
            addresses[d % 2].clone(),
            hot[d % HOT_USERS].clone(),
        );
        tokio::spawn(async move {
            send(
                &client,
                &address,
                DELETE_USER,
                json!({ "input": { "id": id } }),
            )
            .await
        })
    });
    let deletes: Vec<Value> = join_all(deletes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let deleted = deletes.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(deleted, HOT_USERS, "one delete per user wins: {deletes:#?}");
    for body in deletes.iter().filter(|b| b.get("errors").is_some()) {
        assert_eq!(error_code(body), "NOT_FOUND", "{body:#}");
    }
    let renamed: usize = join_all(renamers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    eprintln!(
        "{renamed} renames of {HOT_USERS} users by {} writers",
        WRITERS * HOT_USERS
    );
    assert!(
        renamed > 200,
        "too little contention to mean anything: {renamed}"
    );

    // The log: every user's versions 1..=n in log order; the read model equals the write model.
    app.converge(Duration::from_secs(60)).await;
    assert_projected_exactly_once(&app).await;

    let logged = log_length(&app).await;
    let replayed = Subscription::user_events(&app.address, None, Protocol::TransportWs)
        .await
        .take(logged, Duration::from_secs(60))
        .await;
    assert_names_chain(&replayed);
    let streamed = live.take(logged, Duration::from_secs(60)).await;
    assert_names_chain(&streamed);
    assert_eq!(
        streamed.iter().map(|e| &e["position"]).collect::<Vec<_>>(),
        replayed.iter().map(|e| &e["position"]).collect::<Vec<_>>(),
        "live and replayed streams are the same sequence"
    );
}

/// Hands one address over and over from a user being deleted to a user being created, racing
/// both (and other pairs) through two instances. Whenever the create wins the address, the log
/// has the delete that freed it first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_handed_over_is_logged_delete_first() {
    let Some((app, b)) = two_instances().await else {
        return;
    };
    let addresses = [app.address.clone(), b.address.clone()];
    const PAIRS: usize = 8;
    const ROUNDS: usize = 25;
    let pairs = (0..PAIRS).map(|p| {
        let (client, addresses) = (app.client.clone(), addresses.clone());
        tokio::spawn(async move {
            let email = format!("handed{p}@example.com");
            let input = |round: usize| json!({ "input": { "name": format!("P{p} R{round}"), "email": email } });
            let first = send(&client, &addresses[0], CREATE_USER, input(0)).await;
            let mut holder = first["data"]["createUser"]["user"]["id"].as_str().unwrap().to_owned();
            for round in 1..=ROUNDS {
                // Creates hammer the address from the other instance while the delete runs.
                let delete = send(&client, &addresses[round % 2], DELETE_USER, json!({ "input": { "id": holder } }));
                let won = std::sync::atomic::AtomicBool::new(false);
                let creates = join_all((0..3).map(|_| {
                    let (client, address, input, won) = (&client, &addresses[(round + 1) % 2], input(round), &won);
                    async move {
                        for _ in 0..10_000 {
                            let body = send(client, address, CREATE_USER, input.clone()).await;
                            if body.get("errors").is_none() {
                                won.store(true, std::sync::atomic::Ordering::SeqCst);
                                return Some(body["data"]["createUser"]["user"]["id"].as_str().unwrap().to_owned());
                            }
                            assert_eq!(error_code(&body), "CONFLICT", "{body:#}");
                            if won.load(std::sync::atomic::Ordering::SeqCst) {
                                return None;
                            }
                        }
                        panic!("the address was never freed");
                    }
                }));
                let (deleted, created) = futures::join!(delete, creates);
                assert!(deleted.get("errors").is_none(), "{deleted:#}");
                let winners: Vec<String> = created.into_iter().flatten().collect();
                assert_eq!(winners.len(), 1, "one create takes the address");
                holder = winners[0].clone();
            }
        })
    });
    for pair in join_all(pairs).await {
        pair.unwrap();
    }

    // In log order, an address is created only while no live user holds it.
    let log = user_events::Entity::find()
        .order_by_asc(user_events::Column::TxId)
        .order_by_asc(user_events::Column::Position)
        .all(&app.write_db)
        .await
        .unwrap();
    let mut holders: HashMap<String, uuid::Uuid> = HashMap::new();
    let mut emails: HashMap<uuid::Uuid, String> = HashMap::new();
    for event in &log {
        match event.event_type.as_str() {
            "UserCreated" => {
                let email = event.payload["email"].as_str().unwrap().to_owned();
                if let Some(holder) = holders.insert(email.clone(), event.user_id) {
                    panic!(
                        "{email} created for {} while {holder} still held it",
                        event.user_id
                    );
                }
                emails.insert(event.user_id, email);
            }
            "UserDeleted" => {
                holders.remove(&emails[&event.user_id]);
            }
            _ => {}
        }
    }
    assert_eq!(
        log.len(),
        PAIRS * (1 + 2 * ROUNDS),
        "every round deleted once and created once"
    );
    app.converge(Duration::from_secs(30)).await;
    assert_projected_exactly_once(&app).await;
}

/// The mechanism: a rename or a create waiting for its turn (here held by the test, as by a
/// command in flight) has no transaction id yet, so whoever holds the turn sorts before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_waiting_for_its_turn_holds_no_transaction_id() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped (SQLite serialises writers)");
        return;
    };
    let app = spawn_app_with(backend, &[]).await;
    let id = app.create_user("Ada", "ada@example.com").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let turns = [
        (
            format!("SELECT pg_advisory_xact_lock(1, hashtext('{id}'))"),
            UPDATE_USER_NAME,
            json!({ "input": { "id": id, "name": "Ada R" } }),
        ),
        (
            "SELECT pg_advisory_xact_lock(2, hashtext('bob@example.com'))".to_owned(),
            CREATE_USER,
            json!({ "input": { "name": "Bob", "email": "Bob@Example.com" } }),
        ),
    ];
    for (hold, command, variables) in turns {
        let holder = app.write_db.begin().await.unwrap();
        holder.execute_unprepared(&hold).await.unwrap();
        let sent = tokio::spawn({
            let (client, address) = (app.client.clone(), app.address.clone());
            async move { send(&client, &address, command, variables).await }
        });
        let started = Instant::now();
        let waiter_xid = loop {
            let row = app
                .write_db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT backend_xid::text AS xid FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event = 'advisory'",
                ))
                .await
                .unwrap();
            if let Some(row) = row {
                break row.try_get::<Option<String>>("", "xid").unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the command never waited for its turn"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(
            waiter_xid, None,
            "a command waiting for its turn has a transaction id"
        );
        holder.commit().await.unwrap();
        let body = sent.await.unwrap();
        assert!(body.get("errors").is_none(), "{body:#}");
    }
}

/// A server and a second instance on fresh PostgreSQL databases; small pools, so that two tests
/// at a time stay within the server's connection limit.
async fn two_instances() -> Option<(TestApp, Server)> {
    let Some(backend) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped (SQLite serialises writers)");
        return None;
    };
    let app = spawn_app_with(
        backend,
        &["--max-connections", "8", "--read-max-connections", "4"],
    )
    .await;
    let b = app.start_instance().await;
    Some((app, b))
}

async fn send(client: &reqwest::Client, address: &str, query: &str, variables: Value) -> Value {
    let response = client
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON body")
}

async fn log_length(app: &TestApp) -> usize {
    user_events::Entity::find()
        .all(&app.write_db)
        .await
        .unwrap()
        .len()
}

/// Per user: created first, each rename starts from the name before it, nothing after a delete.
fn assert_names_chain(events: &[Value]) {
    let mut names: HashMap<&str, Option<&str>> = HashMap::new();
    for event in events {
        let user = event["userId"].as_str().unwrap();
        match event["__typename"].as_str().unwrap() {
            "UserCreated" => {
                assert!(
                    names.insert(user, event["name"].as_str()).is_none(),
                    "{user} created twice"
                );
            }
            "UserRenamed" => {
                let current = names
                    .get_mut(user)
                    .unwrap_or_else(|| panic!("{user} renamed before it was created"));
                assert_eq!(
                    *current,
                    event["previousName"].as_str(),
                    "a rename of {user} out of order: {event}"
                );
                *current = event["newName"].as_str();
            }
            "UserDeleted" => {
                let current = names
                    .get_mut(user)
                    .unwrap_or_else(|| panic!("{user} deleted before it was created"));
                assert!(current.take().is_some(), "{user} deleted twice");
            }
            other => panic!("unknown event {other}"),
        }
    }
}

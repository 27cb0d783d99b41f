//! The log's order under contention (PostgreSQL, two instances): many unconditional renames and
//! deletes of one user are logged in version order, so projection completes and subscribers get
//! each user's events in order; an email address handed from a deleted user to a new one is
//! logged delete first.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cqrs_users::entities::user_events;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::ws::{Protocol, Subscription};
use crate::helpers::{
    Backend, CREATE_USER, Client, Server, TestApp, UPDATE_USER_NAME, eventually, spawn_app,
    spawn_app_with,
};

/// Writers per hot user, spread over both instances.
const WRITERS: usize = 24;
const HOT_USERS: usize = 2;
/// Renames that succeed before the deletes race them: enough contention to mean something. The
/// test counts renames, not seconds, so a slow machine makes it longer, not weaker.
const RENAMES: usize = 240;
/// A bound on the load however slow the machine, so a broken server fails the test, not hangs it.
const MOST: Duration = Duration::from_secs(120);

/// 24 clients per user rename two users without `expectedVersion` through two instances until
/// 240 renames succeeded, then 8 deletes per user race the renames. The log holds each user's versions in
/// order, the read model converges to the write model, and both a live subscriber and a replay
/// see each user's names chain from one event to the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renames_and_deletes_of_one_user_keep_version_order() {
    let Some((app, b)) = two_instances().await else {
        return;
    };
    let clients = [app.client().clone(), b.client().clone()];
    let mut live = Subscription::user_events(b.address(), None, Protocol::TransportWs).await;

    let mut hot = Vec::new();
    for u in 0..HOT_USERS {
        let created = app
            .create_user(&format!("Hot {u}"), &format!("hot{u}@example.com"))
            .await;
        hot.push(created.user.id);
    }

    let started = Instant::now();
    let succeeded = Arc::new(AtomicUsize::new(0));
    let renamers: Vec<_> = (0..WRITERS * HOT_USERS)
        .map(|w| {
            let (client, id) = (clients[w % 2].clone(), hot[w % HOT_USERS].clone());
            let succeeded = succeeded.clone();
            tokio::spawn(async move {
                let mut renamed = 0;
                for i in 0.. {
                    let name = format!("W{w} #{i}");
                    let answer = client.update_user_name(&id, &name, None).await;
                    match answer.is_ok() {
                        true => renamed += 1,
                        false if answer.code() == "NOT_FOUND" => break,
                        false => panic!("rename failed: {answer}"),
                    }
                    succeeded.fetch_add(1, Ordering::SeqCst);
                    if started.elapsed() > MOST {
                        break;
                    }
                }
                renamed
            })
        })
        .collect();
    eventually(MOST, "the renames to pile up", async || {
        match succeeded.load(Ordering::SeqCst) {
            done if done >= RENAMES => Ok(()),
            done => Err(done),
        }
    })
    .await;
    let deletes = (0..8 * HOT_USERS).map(|d| {
        let (client, id) = (clients[d % 2].clone(), hot[d % HOT_USERS].clone());
        tokio::spawn(async move { client.delete_user(&id, None).await })
    });
    let deletes: Vec<_> = join_all(deletes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let deleted = deletes.iter().filter(|a| a.is_ok()).count();
    assert_eq!(deleted, HOT_USERS, "one delete per user wins: {deletes:#?}");
    for answer in deletes.iter().filter(|a| !a.is_ok()) {
        assert_eq!(answer.code(), "NOT_FOUND", "{answer}");
    }
    let renamed: usize = join_all(renamers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let writers = WRITERS * HOT_USERS;
    eprintln!("{renamed} renames of {HOT_USERS} users by {writers} writers");
    assert!(renamed >= RENAMES, "the deletes came too early: {renamed}");

    // The log: every user's versions 1..=n in log order; the read model equals the write model.
    app.converge_exactly_once(Duration::from_secs(60)).await;

    let logged = app.write_counts().await.1;
    let replayed = Subscription::user_events(app.address(), None, Protocol::TransportWs)
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
    const PAIRS: usize = 8;
    const ROUNDS: usize = 25;
    let Some((app, b)) = two_instances().await else {
        return;
    };
    let clients = [app.client().clone(), b.client().clone()];
    let pairs = (0..PAIRS).map(|p| {
        let clients = clients.clone();
        tokio::spawn(async move {
            let email = format!("handed{p}@example.com");
            let first = clients[0].create_user(&format!("P{p} R0"), &email).await;
            let mut holder = first.user.id;
            for round in 1..=ROUNDS {
                // Creates hammer the address from the other instance while the delete runs.
                let delete = clients[round % 2].delete_user(&holder, None);
                let name = format!("P{p} R{round}");
                let won = AtomicBool::new(false);
                let creates = join_all((0..3).map(|_| {
                    let client = &clients[(round + 1) % 2];
                    take_when_free(client, &name, &email, &won)
                }));
                let (deleted, created) = futures::join!(delete, creates);
                assert!(deleted.is_ok(), "{deleted}");
                let winners: Vec<String> = created.into_iter().flatten().collect();
                assert_eq!(winners.len(), 1, "one create takes the address");
                holder = winners[0].clone();
            }
        })
    });
    for pair in join_all(pairs).await {
        pair.unwrap();
    }

    let log = app.log().await;
    assert_each_address_held_once(&log);
    let expected = PAIRS * (1 + 2 * ROUNDS);
    assert_eq!(
        log.len(),
        expected,
        "every round deleted once and created once"
    );
    app.converge_exactly_once(Duration::from_secs(30)).await;
}

/// Creates the user until it gets the address (its id) or another create has (`None`); every
/// refusal before is a CONFLICT.
async fn take_when_free(
    client: &Client,
    name: &str,
    email: &str,
    won: &AtomicBool,
) -> Option<String> {
    for _ in 0..10_000 {
        let answer = client.try_create_user(name, email).await;
        if answer.is_ok() {
            won.store(true, Ordering::SeqCst);
            return Some(answer.ok().user.id);
        }
        assert_eq!(answer.code(), "CONFLICT", "{answer}");
        if won.load(Ordering::SeqCst) {
            return None;
        }
    }
    panic!("the address was never freed");
}

/// The mechanism: a rename or a create waiting for its turn (here held by the test, as by a
/// command in flight) has no transaction id yet, so whoever holds the turn sorts before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_waiting_for_its_turn_holds_no_transaction_id() {
    let Some(backend) = Backend::postgres_only("SQLite serialises writers") else {
        return;
    };
    let app = spawn_app(backend).await;
    let id = app.create_user("Ada", "ada@example.com").await.user.id;
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
        let client = app.client().clone();
        let sent = tokio::spawn(async move { client.graphql(command, variables).await });
        let waiter_xid = eventually(Duration::from_secs(10), "the command to wait", async || {
            let waiter = "SELECT backend_xid::text AS xid FROM pg_stat_activity \
                          WHERE datname = current_database() AND wait_event = 'advisory'";
            let waiter = Statement::from_string(DbBackend::Postgres, waiter);
            let row = app.write_db.query_one_raw(waiter).await.unwrap();
            let row = row.ok_or("the command never waited for its turn")?;
            Ok::<_, &str>(row.try_get::<Option<String>>("", "xid").unwrap())
        })
        .await;
        let has = "a command waiting for its turn has a transaction id";
        assert_eq!(waiter_xid, None, "{has}");
        holder.commit().await.unwrap();
        let body: Value = sent.await.unwrap();
        assert!(body.get("errors").is_none(), "{body:#}");
    }
}

/// In log order, an address is created only while no live user holds it.
pub fn assert_each_address_held_once(log: &[user_events::Model]) {
    let mut holders: HashMap<String, uuid::Uuid> = HashMap::new();
    let mut emails: HashMap<uuid::Uuid, String> = HashMap::new();
    for event in log {
        let user = event.user_id;
        match event.event_type.as_str() {
            "UserCreated" => {
                let email = event.payload["email"].as_str().unwrap().to_owned();
                if let Some(holder) = holders.insert(email.clone(), user) {
                    panic!("{email} created for {user} while {holder} still held it");
                }
                emails.insert(user, email);
            }
            "UserDeleted" => {
                holders.remove(&emails[&user]);
            }
            _ => {}
        }
    }
}

/// A server and a second instance on fresh PostgreSQL databases; small pools (so 4 writers of
/// creates each), so that two tests at a time stay within the server's connection limit.
pub async fn two_instances() -> Option<(TestApp, Server)> {
    let backend = Backend::postgres_only("SQLite serialises writers")?;
    let flags = ["--max-connections", "8", "--read-max-connections", "4"];
    let app = spawn_app_with(backend, &flags).await;
    let b = app.start_instance().await;
    Some((app, b))
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

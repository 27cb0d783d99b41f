//! Batches of creates on PostgreSQL under contention: the writers of two instances batch creates
//! of the same few addresses while deletes free them, and no batch is refused; a create whose
//! address's turn another command holds holds up no other create.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::join_all;
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::helpers::{Backend, spawn_app};
use crate::ordering::{assert_each_address_held_once, two_instances};

/// Clients, half on each instance: many more than the 2 writers, so batches form.
const CLIENTS: usize = 48;
/// Hot addresses: few, so that most batches share some with the other instance's batches.
const ADDRESSES: usize = 12;
/// Creates that must succeed (each then deleted). Counted, not timed, so a slow machine makes the
/// test longer, not weaker.
const WINS: usize = 300;
/// A bound on each client's attempts however slow the machine, so a broken server fails the
/// test, not hangs it.
const MOST_ATTEMPTS: usize = 5_000;

/// 48 clients create users on 12 addresses, each client in its own order, and delete each user
/// they win at once, until 300 creates succeeded. Every create is written or refused as CONFLICT,
/// no batch is refused by PostgreSQL (a deadlock would be, and then written create by create),
/// and the log hands each address from a delete to the next create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_that_share_addresses_never_deadlock() {
    let Some((app, b)) = two_instances().await else {
        return;
    };
    let clients = [app.client().clone(), b.client().clone()];
    let wins = AtomicUsize::new(0);
    let workers = (0..CLIENTS).map(|c| {
        let (client, wins) = (&clients[c % 2], &wins);
        async move {
            for attempt in 0..MOST_ATTEMPTS {
                if wins.load(Ordering::SeqCst) >= WINS {
                    return;
                }
                // Each client walks the addresses in a stride of its own.
                let address = (c + attempt * (1 + c % 5)) % ADDRESSES;
                let email = format!("hot{address}@example.com");
                let answer = client.try_create_user(&format!("C{c}"), &email).await;
                if !answer.is_ok() {
                    assert_eq!(answer.code(), "CONFLICT", "{answer}");
                    continue;
                }
                wins.fetch_add(1, Ordering::SeqCst);
                let deleted = client.delete_user(&answer.ok().user.id, None).await;
                assert!(deleted.is_ok(), "{deleted}");
            }
            panic!("client {c}: {WINS} creates did not succeed within {MOST_ATTEMPTS} attempts");
        }
    });
    join_all(workers).await;

    let logs = app.logs();
    let refused: Vec<&str> = logs.lines().filter(|l| l.contains("refused")).collect();
    assert!(refused.is_empty(), "batches refused: {refused:#?}");
    assert_each_address_held_once(&app.log().await);
    app.converge_exactly_once(Duration::from_secs(30)).await;
}

/// While the test holds the turn of one address (as a delete of its user would), a create of it
/// waits, and creates of other addresses sent after it are written meanwhile; once the turn is
/// free, the waiting create is written too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_waiting_for_its_turn_holds_up_no_other_create() {
    let Some(backend) = Backend::postgres_only("SQLite has one writer, which holds every turn")
    else {
        return;
    };
    let app = spawn_app(backend).await;
    let holder = app.write_db.begin().await.unwrap();
    let hold = "SELECT pg_advisory_xact_lock(2, hashtext('held@example.com'))";
    holder.execute_unprepared(hold).await.unwrap();
    let client = app.client().clone();
    let waiting =
        tokio::spawn(async move { client.try_create_user("Held", "held@example.com").await });
    for i in 0..5 {
        let other = format!("free{i}@example.com");
        let created = app.try_create_user("Free", &other).await;
        assert!(created.is_ok(), "{created}");
        assert!(
            !waiting.is_finished(),
            "the create of a held address did not wait"
        );
    }
    holder.commit().await.unwrap();
    let held = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting create is written once its turn is free")
        .unwrap();
    assert!(held.is_ok(), "{held}");
    assert_eq!(app.write_counts().await, (6, 6));
}

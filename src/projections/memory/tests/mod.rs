//! The in-memory model's apply rules, its bound, and its memory per user; read-through in
//! `read_through.rs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::Utc;

use crate::events::UserEvent;

use super::*;

mod read_through;

/// Counts the bytes the test binary holds, to measure the model's size.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn event(seq: i64, user: UserId, version: i32, event: UserEvent) -> Arc<RecordedEvent> {
    Arc::new(RecordedEvent {
        position: LogPosition::new(0, seq),
        user_id: user,
        version,
        occurred_at: Utc::now(),
        event,
        actor: None,
        correlation_id: None,
    })
}

fn created(seq: i64, user: UserId, n: usize) -> Arc<RecordedEvent> {
    let (name, email) = (format!("User {n}"), format!("user{n}@example.com"));
    event(seq, user, 1, UserEvent::UserCreated { name, email })
}

fn renamed(seq: i64, user: UserId, version: i32, to: &str) -> Arc<RecordedEvent> {
    let (previous_name, new_name) = (String::new(), to.to_owned());
    event(
        seq,
        user,
        version,
        UserEvent::UserRenamed {
            previous_name,
            new_name,
        },
    )
}

fn ready(max_users: u64) -> MemoryModel {
    let model = MemoryModel::new(max_users);
    model.install(Loaded::All(All::default()), LogPosition::START);
    model
}

fn at(seq: i64) -> LogPosition {
    LogPosition::new(0, seq)
}

#[test]
fn applies_creates_renames_and_deletes_in_order() {
    let model = ready(10);
    let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
    assert!(
        model
            .apply(&[created(1, a, 1), created(2, b, 2), created(3, c, 3)])
            .is_ok()
    );
    assert!(
        model
            .apply(&[
                renamed(4, b, 2, "Bee"),
                event(5, a, 2, UserEvent::UserDeleted)
            ])
            .is_ok()
    );
    assert_eq!(model.status(), MemoryStatus::At(at(5)));
    let (page, total) = model.page(0, 10).unwrap();
    assert_eq!(total, 2);
    assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), [b, c]);
    assert_eq!((page[0].name.as_str(), page[0].version), ("Bee", 2));
    assert_eq!(model.user(a), Some(None));
    assert_eq!(model.page(1, 10).unwrap().0[0].id, c);
}

/// Deleting most users squeezes their slots out of the list order; every user left is still
/// found by id, in order, and renamed, deleted and joined by new users as before.
#[test]
fn after_most_users_are_deleted_the_rest_read_and_change_as_before() {
    let model = ready(10_000);
    let ids: Vec<UserId> = (0..3000).map(|_| UserId::new()).collect();
    let creates: Vec<_> = (ids.iter().enumerate())
        .map(|(n, id)| created(n as i64 + 1, *id, n))
        .collect();
    assert!(model.apply(&creates).is_ok());
    // Every third user stays: 2000 deletes, far past the point where slots are squeezed out.
    let gone = (ids.iter().enumerate()).filter(|(n, _)| n % 3 != 0);
    let deletes: Vec<_> = (gone.zip(3001..))
        .map(|((_, id), seq)| event(seq, *id, 2, UserEvent::UserDeleted))
        .collect();
    assert!(model.apply(&deletes).is_ok());
    let kept: Vec<UserId> = ids.iter().step_by(3).copied().collect();
    assert_eq!(model.held(), kept.len());
    for (n, id) in ids.iter().enumerate() {
        let read = model.user(*id).expect("the model answers");
        let expected = (n % 3 == 0).then(|| (format!("User {n}"), 1));
        assert_eq!(read.map(|u| (u.name, u.version)), expected, "user {n}");
    }
    let (page, total) = model.page(500, 3).unwrap();
    assert_eq!(total, kept.len() as u64);
    assert_eq!(
        page.iter().map(|u| u.id).collect::<Vec<_>>(),
        kept[500..503]
    );
    let (late, next) = (UserId::new(), 5001);
    let changes = [
        renamed(next, kept[7], 2, "Seventh, renamed"),
        event(next + 1, kept[0], 2, UserEvent::UserDeleted),
        created(next + 2, late, 9999),
    ];
    assert!(model.apply(&changes).is_ok());
    assert_eq!(
        model.user(kept[7]).unwrap().unwrap().name,
        "Seventh, renamed"
    );
    assert_eq!(model.user(kept[0]), Some(None));
    let (page, total) = model.page(total - 2, 10).unwrap();
    assert_eq!(total, kept.len() as u64);
    assert_eq!(
        page.iter().map(|u| u.id).collect::<Vec<_>>(),
        [kept[999], late]
    );
}

/// A read waiting for a position the model has not reached asks for the log (`wanted`), again
/// after each move that falls short, and not once the model is there.
#[tokio::test]
async fn a_read_waiting_for_its_token_asks_for_the_log_until_the_model_gets_there() {
    use std::time::Duration;

    let model = ready(10);
    let mut wanted = model.wanted().subscribe();
    let (a, b) = (UserId::new(), UserId::new());
    let waiting = tokio::spawn({
        let model = model.clone();
        async move { model.reached(at(2)).await }
    });
    let asked = async |wanted: &mut tokio::sync::watch::Receiver<u64>| {
        tokio::time::timeout(Duration::from_secs(5), wanted.changed())
            .await
            .is_ok()
    };
    assert!(asked(&mut wanted).await, "the wait asks at once");
    assert!(model.apply(&[created(1, a, 1)]).is_ok());
    assert!(asked(&mut wanted).await, "short of the token: asks again");
    assert!(model.apply(&[created(2, b, 2)]).is_ok());
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("reached")
        .unwrap();
    assert!(!wanted.has_changed().unwrap(), "reached: asks no more");
    model.reached(at(2)).await;
    assert!(!wanted.has_changed().unwrap(), "already there: never asks");
}

#[test]
fn skips_what_it_applied_and_never_installs_an_older_version() {
    let model = ready(10);
    let a = UserId::new();
    assert!(
        model
            .apply(&[created(1, a, 1), renamed(2, a, 2, "Two")])
            .is_ok()
    );
    // Replayed positions, and an older version at a later position, change nothing.
    assert!(
        model
            .apply(&[created(1, a, 1), renamed(2, a, 2, "Old")])
            .is_ok()
    );
    assert!(model.apply(&[renamed(3, a, 2, "Older")]).is_ok());
    let user = model.user(a).unwrap().unwrap();
    assert_eq!((user.name.as_str(), user.version), ("Two", 2));
}

#[test]
fn a_gap_drops_the_users_until_reloaded() {
    let model = ready(10);
    let a = UserId::new();
    assert!(model.apply(&[created(1, a, 1)]).is_ok());
    let lost = model.apply(&[renamed(2, a, 3, "Skipped one")]);
    assert!(matches!(lost, Err(Lost::Gap(ref gap)) if gap.position() == at(2)));
    assert_eq!(model.status(), MemoryStatus::Loading);
    assert_eq!(model.user(a), None);
    assert!(model.page(0, 1).is_none());
    assert_eq!(model.held(), 0);
    let stray = ready(10);
    assert!(
        stray
            .apply(&[renamed(1, UserId::new(), 2, "No such user")])
            .is_err()
    );
}

#[test]
fn past_its_bound_it_holds_at_most_that_many_users() {
    let model = ready(3);
    let ids: Vec<UserId> = (0..200).map(|_| UserId::new()).collect();
    assert!(
        model
            .apply(&[
                created(1, ids[0], 0),
                created(2, ids[1], 1),
                created(3, ids[2], 2)
            ])
            .is_ok()
    );
    assert!(model.holds_every_user());
    let renamed_first = renamed(4, ids[0], 2, "First, renamed");
    assert!(model.apply(&[renamed_first]).is_ok());
    for (n, id) in ids.iter().enumerate().skip(3) {
        // A user read often stays hot while one-off creates pass through.
        assert!(model.user(ids[0]).is_some_and(|u| u.is_some()));
        assert!(model.apply(&[created(n as i64 + 2, *id, n)]).is_ok());
        assert!(model.held() <= 3, "{} users held", model.held());
        assert!(!model.holds_every_user());
    }
    assert_eq!(model.status(), MemoryStatus::At(at(201)));
    assert!(model.page(0, 10).is_none(), "pages read users_view");
    assert!(model.snapshot().is_none());
    let first = model.user(ids[0]).unwrap().unwrap();
    assert_eq!((first.name.as_str(), first.version), ("First, renamed", 2));
    // Events of held users still apply with the strict rules; those of others change nothing.
    assert!(model.apply(&[renamed(202, ids[0], 3, "Again")]).is_ok());
    assert_eq!(model.user(ids[0]).unwrap().unwrap().name, "Again");
    let cold = ids.iter().find(|id| model.user(**id).is_none()).unwrap();
    assert!(model.apply(&[renamed(203, *cold, 2, "Not held")]).is_ok());
    assert_eq!(model.user(*cold), None);
    assert!(model.apply(&[renamed(204, ids[0], 5, "Gap")]).is_err());
}

#[test]
fn loaded_past_its_bound_it_starts_with_no_user_in_memory() {
    let model = MemoryModel::new(3);
    let loaded = Loaded::PastBound { users: 4 };
    model.install(loaded, at(7));
    assert_eq!(model.status(), MemoryStatus::At(at(7)));
    assert_eq!((model.held(), model.holds_every_user()), (0, false));
    assert_eq!(model.user(UserId::new()), None);
    assert!(model.page(0, 1).is_none());
}

/// Bytes held per user with 100 000 users created through `apply`, then loaded as from
/// `users_view` (names like `User 12345`, addresses like `user12345@example.com`). Run alone, so
/// no other test allocates meanwhile:
/// `cargo test --lib memory_per_user -- --ignored --nocapture --test-threads 1`.
#[test]
#[ignore = "a measurement; run alone"]
fn memory_per_user() {
    const USERS: usize = 100_000;
    let events: Vec<_> = (0..USERS)
        .map(|n| created(n as i64 + 1, UserId::new(), n))
        .collect();
    let before = HELD.load(Ordering::Relaxed);
    let model = ready(USERS as u64);
    for chunk in events.chunks(256) {
        assert!(model.apply(chunk).is_ok());
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    println!(
        "every user: {USERS} users, {held} bytes allocated, {} bytes per user",
        held / USERS as isize
    );
    assert_eq!(model.page(0, 1).unwrap().1, USERS as u64);
    drop(model);
    // As a load from `users_view` builds it: sized for the count it reads first, so without
    // the spare capacity that doubling leaves.
    let users: Vec<User> = events.iter().filter_map(|e| rules::created(e)).collect();
    let before = HELD.load(Ordering::Relaxed);
    let mut loaded = All::with_capacity(USERS);
    for user in &users {
        loaded.push(user.clone());
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    println!(
        "loaded: {USERS} users, {held} bytes allocated, {} bytes per user",
        held / USERS as isize
    );
    assert_eq!(loaded.len(), USERS as u64);
    drop(loaded);
    // Past the bound, with as many users again created since: the hot set has evicted that many
    // and remembers them (hashes only) to tell a returning user from a new one.
    let more: Vec<_> = (USERS..2 * USERS)
        .map(|n| created(n as i64 + 1, UserId::new(), n))
        .collect();
    let before = HELD.load(Ordering::Relaxed);
    let model = MemoryModel::new(USERS as u64);
    let loaded = Loaded::PastBound {
        users: USERS as u64 + 1,
    };
    model.install(loaded, LogPosition::START);
    for chunk in events.chunks(256).chain(more.chunks(256)) {
        assert!(model.apply(chunk).is_ok());
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    println!(
        "hot set: {} users held after {} created, {held} bytes allocated with the last \
         {RECENT_EVENTS} events, {} bytes per user held",
        model.held(),
        2 * USERS,
        held / model.held() as isize
    );
    assert!(model.held() <= USERS);
}

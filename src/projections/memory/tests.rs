//! The in-memory model's apply rules, its bound, and its memory per user.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::Utc;

use super::*;

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
    assert!(model.install(Vec::new(), LogPosition::START));
    model
}

#[test]
fn applies_creates_renames_and_deletes_in_order() {
    let model = ready(10);
    let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
    assert!(model.apply(&[created(1, a, 1), created(2, b, 2), created(3, c, 3)]));
    assert!(model.apply(&[
        renamed(4, b, 2, "Bee"),
        event(5, a, 2, UserEvent::UserDeleted)
    ]));
    assert_eq!(model.status(), MemoryStatus::At(LogPosition::new(0, 5)));
    let (page, total) = model.page(0, 10).unwrap();
    assert_eq!(total, 2);
    assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), [b, c]);
    assert_eq!((page[0].name.as_str(), page[0].version), ("Bee", 2));
    assert_eq!(model.user(a), Some(None));
    assert_eq!(model.page(1, 10).unwrap().0[0].id, c);
}

#[test]
fn skips_what_it_applied_and_never_installs_an_older_version() {
    let model = ready(10);
    let a = UserId::new();
    assert!(model.apply(&[created(1, a, 1), renamed(2, a, 2, "Two")]));
    // Replayed positions, and an older version at a later position, change nothing.
    assert!(model.apply(&[created(1, a, 1), renamed(2, a, 2, "Old")]));
    assert!(model.apply(&[renamed(3, a, 2, "Older")]));
    let user = model.user(a).unwrap().unwrap();
    assert_eq!((user.name.as_str(), user.version), ("Two", 2));
}

#[test]
fn a_gap_makes_it_unusable() {
    let model = ready(10);
    let a = UserId::new();
    assert!(model.apply(&[created(1, a, 1)]));
    assert!(!model.apply(&[renamed(2, a, 3, "Skipped one")]));
    assert_eq!(model.status(), MemoryStatus::Unusable);
    assert_eq!(model.user(a), None);
    assert!(model.page(0, 1).is_none());
    let stray = ready(10);
    assert!(!stray.apply(&[renamed(1, UserId::new(), 2, "No such user")]));
}

#[test]
fn past_its_bound_it_stops_answering() {
    let model = ready(3);
    let ids: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    assert!(model.apply(&[
        created(1, ids[0], 0),
        created(2, ids[1], 1),
        created(3, ids[2], 2)
    ]));
    assert!(model.is_usable());
    assert!(!model.apply(&[created(4, ids[3], 3)]));
    assert_eq!(model.status(), MemoryStatus::Unusable);
    let loaded = (0..4).map(|n| user(n, ids[n])).collect();
    assert!(!MemoryModel::new(3).install(loaded, LogPosition::START));
}

fn user(n: usize, id: UserId) -> User {
    let now = Utc::now();
    User {
        id,
        name: format!("User {n}"),
        email: format!("user{n}@example.com"),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// Bytes held per user with 100 000 users created through `apply` (names like `User 12345`,
/// addresses like `user12345@example.com`). Run alone, so no other test allocates meanwhile:
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
        assert!(model.apply(chunk));
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    println!(
        "{USERS} users: {held} bytes allocated, {} bytes per user",
        held / USERS as isize
    );
    assert_eq!(model.page(0, 1).unwrap().1, USERS as u64);
}

//! Read-through past the bound: a row read from `users_view` joins the hot set only when it is
//! not older than the model, whatever the order of the read, the events and the offer.

use super::*;

/// A log for the read-through tests: user `x` created at 1, renamed at 3, 5 and 6, deleted at 8;
/// other users created between. Returns the events and `x`.
fn history_of_x() -> (Vec<Arc<RecordedEvent>>, UserId) {
    let x = UserId::new();
    let others: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    let events = vec![
        created(1, x, 0),
        created(2, others[0], 1),
        renamed(3, x, 2, "X2"),
        created(4, others[1], 2),
        renamed(5, x, 3, "X3"),
        renamed(6, x, 4, "X4"),
        created(7, others[2], 3),
        event(8, x, 5, UserEvent::UserDeleted),
        created(9, others[3], 4),
    ];
    (events, x)
}

/// `x` as `users_view` holds it at checkpoint `seq` (`None`: no row).
fn x_at(events: &[Arc<RecordedEvent>], x: UserId, seq: i64) -> Option<User> {
    let mut all = All::default();
    for event in events.iter().filter(|e| e.position <= at(seq)) {
        all.apply(event).unwrap();
    }
    all.take(x)
}

/// A model past its bound (but with room), at position 1, not holding `x`.
fn hot_at_1(recent: usize, events: &[Arc<RecordedEvent>]) -> MemoryModel {
    let model = MemoryModel::with_recent(100, recent);
    model.install(Loaded::PastBound { users: 101 }, at(1));
    assert!(model.apply(&events[..1]).is_ok());
    model
}

#[test]
fn a_row_read_behind_the_model_is_brought_up_to_it_from_the_recent_events() {
    let (events, x) = history_of_x();
    let model = hot_at_1(RECENT_EVENTS, &events);
    let stale = x_at(&events, x, 2).unwrap();
    assert!(model.apply(&events[1..6]).is_ok());
    assert_eq!(
        model.user(x),
        None,
        "renames of a user not held are not held"
    );
    assert!(model.offer(&stale, at(2)));
    let held = model.user(x).unwrap().unwrap();
    assert_eq!((held.name.as_str(), held.version), ("X4", 4));
    assert!(model.apply(&events[6..]).is_ok());
    assert_eq!(model.user(x), None, "deleted");
}

#[test]
fn a_row_read_before_the_recent_events_is_not_cached() {
    let (events, x) = history_of_x();
    let model = hot_at_1(2, &events);
    let stale = x_at(&events, x, 2).unwrap();
    assert!(model.apply(&events[1..6]).is_ok());
    assert!(!model.offer(&stale, at(2)));
    assert_eq!(model.user(x), None);
    let fresh = x_at(&events, x, 5).unwrap();
    assert!(model.offer(&fresh, at(5)));
    assert_eq!(model.user(x).unwrap().unwrap().version, 4);
}

#[test]
fn a_row_read_ahead_of_the_model_skips_the_events_it_already_shows() {
    let (events, x) = history_of_x();
    let model = hot_at_1(RECENT_EVENTS, &events);
    let ahead = x_at(&events, x, 5).unwrap();
    assert!(model.offer(&ahead, at(5)));
    assert!(model.apply(&events[1..5]).is_ok());
    assert_eq!(model.user(x).unwrap().unwrap().name, "X3");
    assert!(model.apply(&events[5..6]).is_ok());
    assert_eq!(model.user(x).unwrap().unwrap().name, "X4");
    // A stale row never replaces the newer user held.
    assert!(!model.offer(&x_at(&events, x, 3).unwrap(), at(3)));
    assert!(!model.offer(&x_at(&events, x, 1).unwrap(), at(1)));
    assert_eq!(model.user(x).unwrap().unwrap().name, "X4");
}

/// Every interleaving of two rows read from `users_view` at any checkpoints with the events of
/// the log passing through the model, with a ring that covers everything, little or nothing:
/// once cached, `x` is never older than the model's position, and exactly it once the model is
/// past the rows' checkpoints; a deleted `x` is never answered.
#[test]
fn read_through_never_installs_an_older_version_in_any_order() {
    let (events, x) = history_of_x();
    let last = events.len() as i64;
    let truths: Vec<Option<User>> = (0..=last).map(|seq| x_at(&events, x, seq)).collect();
    let (mut cached, mut refused, mut scenarios) = (0, 0, 0);
    for recent in [RECENT_EVENTS, 3, 1, 0] {
        for first in 1..=last {
            for second in 1..=last {
                for offer_first in 1..=last {
                    for offer_second in offer_first..=last {
                        scenarios += 1;
                        let model = hot_at_1(recent, &events);
                        let mut newest_seen = 0;
                        let mut rows_at = 1;
                        for seq in 1..=last {
                            if seq > 1 {
                                assert!(
                                    model.apply(&events[seq as usize - 1..seq as usize]).is_ok()
                                );
                            }
                            for (offer_at, read_at) in
                                [(offer_first, first), (offer_second, second)]
                            {
                                if offer_at == seq
                                    && let Some(row) = &truths[read_at as usize]
                                {
                                    rows_at = rows_at.max(read_at);
                                    if model.offer(row, at(read_at)) {
                                        cached += 1;
                                    } else {
                                        refused += 1;
                                    }
                                }
                            }
                            let Some(answer) = model.user(x).map(|found| found.unwrap()) else {
                                continue;
                            };
                            let context = || {
                                format!(
                                    "recent {recent}, rows at {first} (offered at {offer_first}) \
                                     and {second} (at {offer_second}), model at {seq}: {answer:?}"
                                )
                            };
                            assert!(answer.version >= newest_seen, "went back: {}", context());
                            newest_seen = answer.version;
                            let Some(truth) = &truths[seq as usize] else {
                                panic!("deleted, yet answered: {}", context());
                            };
                            assert!(answer.version >= truth.version, "older: {}", context());
                            if seq >= rows_at {
                                assert_eq!(&answer, truth, "{}", context());
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        cached > 1000 && refused > 1000,
        "{cached} cached, {refused} refused of {scenarios}"
    );
}

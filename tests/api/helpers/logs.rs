//! The log: one subscriber for the test process, every event kept and told apart by the
//! `instance{id=...}` span each server logs in, so a test reads only its own servers' lines.
//! Printed to stderr as well when `TEST_LOG` is set. The same subscriber turns spans into
//! OpenTelemetry spans for `traces.rs`.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use crate::helpers::traces;

/// Installs the subscriber, once per test process.
pub fn init() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let log = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| EventWriter)
            .with_filter(tracing_subscriber::EnvFilter::new("warn,cqrs_users=info"));
        let _ = tracing_subscriber::registry()
            .with(log)
            .with(traces::layer())
            .try_init();
    });
}

/// What the instances named `ids` have logged, in order, one event after another.
pub fn of(ids: &[String]) -> String {
    let spans: Vec<String> = ids
        .iter()
        .map(|id| format!("instance{{id={id}}}"))
        .collect();
    let events = events().lock().unwrap();
    let theirs = events
        .iter()
        .filter(|e| spans.iter().any(|s| e.contains(s)));
    theirs.map(String::as_str).collect()
}

/// Each formatted event, as the subscriber wrote it (one `write` per event).
fn events() -> &'static Mutex<Vec<String>> {
    static EVENTS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    EVENTS.get_or_init(Default::default)
}

fn record(event: String) {
    events().lock().unwrap().push(event);
}

struct EventWriter;

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        record(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_instance_reads_its_own_lines_only() {
    let [a, b] = ["a", "b"].map(|name| format!("{name}-{}", uuid::Uuid::now_v7()));
    record(format!("INFO instance{{id={a}}}:request: one\n"));
    record(format!("INFO instance{{id={b}}}: two\n"));
    record("INFO no instance: three\n".to_owned());
    assert_eq!(
        of(std::slice::from_ref(&a)),
        format!("INFO instance{{id={a}}}:request: one\n")
    );
    assert_eq!(of(&[a, b]).lines().count(), 2);
}

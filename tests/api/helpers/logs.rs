//! The log: one subscriber for the test process, every event kept for the tests that look for a
//! log line, and printed to stderr as well when `TEST_LOG` is set.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Installs the subscriber, once per test process.
pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,cqrs_users=info")
            .with_ansi(false)
            .with_writer(|| EventWriter)
            .try_init();
    });
}

/// Everything the servers in this test binary have logged.
pub fn captured() -> String {
    events().lock().unwrap().concat()
}

/// Each formatted event, as the subscriber wrote it (one `write` per event).
fn events() -> &'static Mutex<Vec<String>> {
    static EVENTS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    EVENTS.get_or_init(Default::default)
}

struct EventWriter;

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        let event = String::from_utf8_lossy(buf).into_owned();
        events().lock().unwrap().push(event);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

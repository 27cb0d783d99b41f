//! The `cqrs-users` binary as a child process: run once as an operator would, or serving until
//! signalled.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::TestApp;

/// The `cqrs-users` binary, with none of the configuration variables of this environment.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cqrs-users"));
    for var in [
        "DATABASE_URL",
        "READ_DATABASE_URL",
        "LISTEN_ADDR",
        "RUST_LOG",
        "LOG_LEVEL",
    ] {
        command.env_remove(var);
    }
    command
}

impl TestApp {
    /// The binary, on this app's databases.
    pub fn binary(&self) -> Command {
        let mut command = binary();
        command
            .args(["--database-url", self.config.write_database_url()])
            .args(["--read-database-url", self.config.read_database_url()]);
        command
    }
}

/// A binary serving on a port of its own; killed when dropped.
pub struct Served {
    child: Child,
    pub address: String,
    /// Every line it has written to stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Spawns `command` (a `binary()` told to serve) on a free port of 127.0.0.1 and waits for
    /// it to announce its address.
    pub fn start(mut command: Command) -> Served {
        command.args(["--listen", "127.0.0.1:0"]);
        Served::start_as_given(command)
    }

    /// Spawns `command`, which says where to listen, and waits for it to announce its address.
    pub fn start_as_given(mut command: Command) -> Served {
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let said = Arc::new(Mutex::new(Vec::new()));
        let kept = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let address = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    let _ = child.kill();
                    panic!(
                        "the server announced no address: {}",
                        said.lock().unwrap().join("\n")
                    )
                });
            if let Some(rest) = line.split("playground at ").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                break url.trim_end_matches('/').to_owned();
            }
        };
        Served {
            child,
            address,
            stderr: said,
        }
    }

    /// What it has written to stderr so far, one line after another.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-STOP`, `-9`, ...) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// Waits for the process to end (bounded); how it ended.
    pub fn exit(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(started.elapsed() < within, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

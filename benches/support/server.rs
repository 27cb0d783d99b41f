//! The service as a process of its own, for the benchmarks: started on a free port, waited for,
//! and read from `/proc` (its CPU time and memory), apart from the process that loads it.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What start-up logs once the in-memory read model holds every user of `users_view`.
const MEMORY_LOADED: &str = "in-memory read model loaded";

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// A running server process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    started: Instant,
    /// When start-up logged that the in-memory read model was loaded, if it did yet.
    loaded: Arc<Mutex<Option<Instant>>>,
}

/// How long start-up took: to `/readyz` answering 200, and to the in-memory read model loaded.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    pub ready: Duration,
    pub loaded: Option<Duration>,
}

impl Server {
    /// Starts `command` (the binary, or a wrapper such as valgrind around it) with `args` and
    /// `--listen` on a free loopback port, its log on stderr at `log_level` (which should let the
    /// in-memory model's info line through to time its loading).
    pub fn start(mut command: Command, args: &[&str], log_level: &str) -> anyhow::Result<Server> {
        // The port is free when asked; nothing else on this machine races for loopback ports.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = command
            .args(args)
            .args(["--listen", &listen, "--log-level", log_level])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let loaded = Arc::new(Mutex::new(None));
        let seen = loaded.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(MEMORY_LOADED) {
                    *seen.lock().expect("not poisoned") = Some(Instant::now());
                } else if line.contains("ERROR") {
                    // Warnings are expected under hostile or saturating load; errors are not.
                    eprintln!("server: {line}");
                }
            }
        });
        Ok(Server {
            child,
            address: format!("http://{listen}"),
            started,
            loaded,
        })
    }

    /// Waits (at most `limit`) until `/readyz` answers 200 and, when `memory` is set, until the
    /// in-memory read model is loaded; returns how long each took from the spawn.
    pub async fn ready(
        &mut self,
        client: &reqwest::Client,
        memory: bool,
        limit: Duration,
    ) -> anyhow::Result<Startup> {
        let url = format!("{}/readyz", self.address);
        let ready = loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server exited during start-up: {status}");
            }
            let answered = client.get(&url).send().await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                break self.started.elapsed();
            }
            anyhow::ensure!(self.started.elapsed() < limit, "not ready after {limit:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        while memory && self.loaded_at().is_none() && self.started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(Startup {
            ready,
            loaded: self.loaded_at(),
        })
    }

    fn loaded_at(&self) -> Option<Duration> {
        let at = *self.loaded.lock().expect("not poisoned");
        at.map(|at| at - self.started)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server has used so far, all threads, user and system.
    pub fn cpu(&self) -> Duration {
        cpu_of(self.pid()).map_or(Duration::ZERO, |t| t.own)
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS` now, `VmHWM` the peak).
    pub fn memory_kib(&self, field: &str) -> u64 {
        memory_kib(Path::new(&format!("/proc/{}/status", self.pid())), field)
    }

    /// Asks the server to stop (SIGTERM: it finishes in-flight requests and hands back its
    /// projection lease) and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let term = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        anyhow::ensure!(term.success(), "kill -TERM failed");
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's CPU time from `/proc/<pid>/stat`: its own (every thread, user and system) and
/// that of its children it has waited for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub own: Duration,
    pub children: Duration,
}

/// `None` when the process is gone.
pub fn cpu_of(pid: u32) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, cpu)| cpu)
}

/// The command name and CPU times of a `/proc/<pid>/stat` line.
pub fn parse_stat(stat: &str) -> Option<(&str, Cpu)> {
    // The name is in parentheses and may hold spaces: the fields follow the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    let fields: Vec<u64> = stat[close + 2..]
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let [utime, stime, cutime, cstime] = fields[..] else {
        return None;
    };
    let ticks = |t: u64| Duration::from_millis(t * 1000 / TICKS_PER_SECOND);
    Some((
        name,
        Cpu {
            own: ticks(utime + stime),
            children: ticks(cutime + cstime),
        },
    ))
}

/// CPU time of this process (the load generator), own and of the children it waited for.
pub fn own_cpu() -> Cpu {
    cpu_of(std::process::id()).unwrap_or_default()
}

fn memory_kib(status: &Path, field: &str) -> u64 {
    std::fs::read_to_string(status)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

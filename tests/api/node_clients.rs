//! Real clients in Node against the server (`tests/node/`): graphql-http's GraphQL-over-HTTP
//! audit, which fails on any MUST it breaks, and Apollo Client 4 (persisted queries over GET and
//! POST, queries over GET, mutations). `npm ci` installs the pinned packages on first use; without
//! `node` on PATH these tests fail, saying so (CI installs it).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::helpers::{Backend, both_engines, spawn_app};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Installs the packages of `package-lock.json` once, if `node_modules` is missing.
fn installed() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "`node` is not on PATH: these tests run Node clients against the server; install \
         Node.js 20 or newer and npm (Debian: apt-get install nodejs npm)"
    );
    if node_dir().join("node_modules").is_dir() {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(node_dir())
        .output()
        .expect("run npm (it comes with Node.js)");
    assert!(
        output.status.success(),
        "npm ci failed: {}",
        report(&output)
    );
}

/// Runs `script` of `tests/node/` with `node`, against `url`.
async fn run(script: &'static str, url: String) -> Output {
    tokio::task::spawn_blocking(move || {
        installed();
        Command::new("node")
            .arg(node_dir().join(script))
            .arg(url)
            .output()
            .expect("run node")
    })
    .await
    .expect("the node task")
}

fn report(output: &Output) -> String {
    format!(
        "{}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// graphql-http's server audit: every MUST passes (the script exits 1 otherwise); it prints
/// each audit that does not pass and the counts, shown here with `--nocapture`.
async fn the_graphql_over_http_audit_passes(backend: Backend) {
    let app = spawn_app(backend).await;
    let output = run("audit.mjs", app.url("/graphql")).await;
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "audit: {}", report(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("MUST: "), "no counts: {stdout}");
}

/// Apollo Client's persisted-queries link (SHA-256 of node:crypto, hashed queries over GET) and
/// `HttpLink` with `useGETForQueries`, each running a query and a mutation; the script checks the
/// results and what went over the wire.
async fn apollo_client_runs_persisted_and_get_queries(backend: Backend) {
    let app = spawn_app(backend).await;
    let output = run("apollo.mjs", app.url("/graphql")).await;
    assert!(output.status.success(), "apollo: {}", report(&output));
    assert_eq!(app.write_counts().await.0, 3, "the script's three users");
}

both_engines!(
    the_graphql_over_http_audit_passes,
    apollo_client_runs_persisted_and_get_queries,
);

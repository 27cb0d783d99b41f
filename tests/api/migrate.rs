//! Migrations as an operator meets them: `migrate` and `migrate status`, `--no-migrate` for
//! teams that migrate out of band, and start-ups that say nothing about migrations they did
//! not apply.

use std::process::Command;
use std::time::Duration;

use crate::helpers::{Backend, Client, Served, Storage, Urls, binary, both_engines, spawn_app};

/// Migrations of the write database, then of the read one, in order.
const WRITE: [&str; 3] = [
    "m20261126_000001_create_users",
    "m20261126_000002_create_user_events",
    "m20261127_000003_event_provenance",
];
const READ: [&str; 2] = [
    "m20261126_000101_create_users_view",
    "m20261126_000102_projection_leases",
];

/// On fresh databases: `migrate status` lists every migration as pending; a server started
/// with `--no-migrate` refuses, naming `cqrs-users migrate`, and creates nothing; `migrate`
/// applies them all; then the status lists them as applied and `--no-migrate` serves.
async fn migrate_applies_what_status_lists_and_no_migrate_waits_for_it(backend: Backend) {
    let (_storage, urls) = Storage::create(&backend).await;
    let on_them = || on(&urls);

    let status = run(on_them().args(["migrate", "status"]));
    for name in WRITE.iter().chain(&READ) {
        assert!(status.contains(&format!("pending  {name}")), "{status}");
    }
    assert!(!status.contains("applied"), "{status}");

    let refused = on_them()
        .args(["--no-migrate", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    let names_it = said.contains("3 pending migrations") && said.contains("`cqrs-users migrate`");
    assert!(names_it, "{said}");
    assert_eq!(
        run(on_them().args(["migrate", "status"])),
        status,
        "--no-migrate changed them"
    );

    let applied = run(on_them().arg("migrate"));
    assert!(
        applied.contains(&format!("applied {}", WRITE.join(", "))),
        "{applied}"
    );
    assert!(
        applied.contains(&format!("applied {}", READ.join(", "))),
        "{applied}"
    );
    assert!(run(on_them().arg("migrate")).contains("up to date"));
    let status = run(on_them().args(["migrate", "status"]));
    for name in WRITE.iter().chain(&READ) {
        assert!(status.contains(&format!("applied  {name}")), "{status}");
    }
    assert!(!status.contains("pending"), "{status}");

    let mut command = on_them();
    command.args(["serve", "--no-migrate"]);
    let served = Served::start(command);
    let client = Client::new(&served.address);
    let created = client.create_user("Ada", "ada@example.com").await;
    let token = Some(created.consistency_token.as_str());
    assert_eq!(client.user(&created.user.id, token).await.ok().name, "Ada");
}

/// A start on migrated databases says nothing about migrations: no PostgreSQL notice relayed
/// (`relation ... already exists, skipping`), no "Applying all pending migrations".
async fn a_start_on_migrated_databases_says_nothing_of_migrations(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut served = Served::start(app.binary());
    // A readiness check looks at the migrations too.
    let ready = Client::new(&served.address);
    let ready = ready.http().get(ready.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    served.signal("-TERM");
    assert!(served.exit(Duration::from_secs(15)).success());
    // The last lines reach the reader thread after the process ended.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let said = served.stderr();
    assert!(said.contains("projector stopped"), "{said}");
    for noise in ["skipping", "already exists", "migration", "NOTICE"] {
        assert!(
            !said.to_lowercase().contains(&noise.to_lowercase()),
            "{noise}: {said}"
        );
    }
}

/// The binary on these databases.
fn on(urls: &Urls) -> Command {
    let mut command = binary();
    command
        .env("DATABASE_URL", &urls.write)
        .env("READ_DATABASE_URL", &urls.read);
    command
}

/// Runs `command`, asserting success; its standard output.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{command:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

both_engines!(
    migrate_applies_what_status_lists_and_no_migrate_waits_for_it,
    a_start_on_migrated_databases_says_nothing_of_migrations,
);

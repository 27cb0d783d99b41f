//! The binary as an operator runs it: defaults with no setup, print-schema, graceful SIGTERM.

use std::time::Duration;

use crate::helpers::{Client, Served, binary};

#[test]
fn print_schema_writes_the_published_sdl() {
    let output = binary().arg("print-schema").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        cqrs_users::graphql::sdl()
    );
}

/// With no configuration the server makes SQLite files under ./data, serves, and stops cleanly
/// on SIGTERM.
#[tokio::test]
async fn serves_on_sqlite_with_no_setup_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary();
    command.current_dir(dir.path());
    let mut served = Served::start(command);
    let client = Client::new(&served.address);
    let created = client.create_user("Ada", "ada@example.com").await;
    let token = Some(created.consistency_token.as_str());
    let user = client.user(&created.user.id, token).await.ok();
    assert_eq!(user.name, "Ada");
    let playground = client.http().get(client.url("/")).send().await.unwrap();
    assert_eq!(playground.status(), 200);

    assert!(dir.path().join("data/write.db").exists());
    assert!(dir.path().join("data/read.db").exists());

    served.signal("-TERM");
    let exit = served.exit(Duration::from_secs(15));
    assert!(exit.success(), "exit after SIGTERM: {exit}");
}

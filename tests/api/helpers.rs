//! `spawn_app`: a fresh pair of databases and a running server per test, on SQLite or PostgreSQL.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser as _;
use cqrs_users::config::{Cli, ServeConfig};
use cqrs_users::domain::User;
use cqrs_users::entities::{user_events, users, users_view};
use cqrs_users::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs the test body once per database engine: `name::sqlite` always, `name::postgres` when
/// `TEST_DATABASE_URL` points at a PostgreSQL server (each test gets fresh databases there).
#[macro_export]
macro_rules! each_backend {
    ($(#[doc = $doc:literal])* async fn $name:ident($app:pat) $body:block) => {
        $crate::each_backend! {
            $(#[doc = $doc])* async fn $name($app, flags = []) $body
        }
    };
    ($(#[doc = $doc:literal])* async fn $name:ident($app:pat, flags = [$($flag:expr),*]) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = $crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, &[$($flag),*]).await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(backend) = $crate::helpers::Backend::postgres() else {
                    eprintln!("TEST_DATABASE_URL is not set: skipped on PostgreSQL");
                    return;
                };
                let $app = $crate::helpers::spawn_app_with(backend, &[$($flag),*]).await;
                $body
            }
        }
    };
}

/// Which engine a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A server URL whose database the test may use to create and drop databases.
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(Backend::Postgres)
    }
}

/// A running server on fresh databases, with its own connections to look inside them.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub write_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub config: ServeConfig,
    server: Option<Server>,
    _storage: Storage,
}

/// One running server (an instance).
pub struct Server {
    pub address: String,
    pub instance_id: String,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(config: &ServeConfig) -> Server {
        let app = Application::build(config).await.expect("build the app");
        Server {
            address: format!("http://{}", app.local_addr()),
            instance_id: app.instance_id().to_owned(),
            shutdown: app.shutdown_token(),
            handle: tokio::spawn(app.run()),
        }
    }

    /// Abrupt stop, as close to `kill -9` as one process allows: the server task and its
    /// background tasks are dropped wherever they are; open transactions roll back.
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// A server on fresh databases of `backend`, started with these extra command-line flags
/// (`--consistency-timeout-ms`, ...).
pub async fn spawn_app_with(backend: Backend, flags: &[&str]) -> TestApp {
    spawn_app_routed(backend, flags, |url| url.to_owned()).await
}

/// Like `spawn_app_with`, with the server reaching its databases at `route(url)` (through a
/// proxy, say) while the test's own connections go straight to them.
pub async fn spawn_app_routed(
    backend: Backend,
    flags: &[&str],
    route: impl Fn(&str) -> String,
) -> TestApp {
    init_logs();
    let (storage, write_url, read_url) = Storage::create(&backend).await;
    let mut args = vec![
        "cqrs-users".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--database-url".to_owned(),
        route(&write_url),
        "--read-database-url".to_owned(),
        route(&read_url),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let config = Cli::try_parse_from(args).expect("valid flags").serve;
    let mut app = TestApp {
        address: String::new(),
        client: reqwest::Client::new(),
        write_db: Database::connect(&write_url)
            .await
            .expect("connect to write db"),
        read_db: Database::connect(&read_url)
            .await
            .expect("connect to read db"),
        config,
        server: None,
        _storage: storage,
    };
    app.start().await;
    app
}

impl TestApp {
    /// Starts the server (again) on the same databases, on a new port.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "server already running");
        let server = Server::start(&self.config).await;
        self.address = server.address.clone();
        self.server = Some(server);
    }

    /// Another instance on the same databases, as a second process would be.
    pub async fn start_instance(&self) -> Server {
        Server::start(&self.config).await
    }

    /// The lease holder name of the main server.
    pub fn instance_id(&self) -> &str {
        &self.server.as_ref().expect("server running").instance_id
    }

    /// Graceful stop: in-flight requests finish, the projector stops between batches.
    pub async fn stop(&mut self) {
        let server = self.server.take().expect("server running");
        server.shutdown.cancel();
        server
            .handle
            .await
            .expect("server task")
            .expect("server ran cleanly");
    }

    /// Abrupt stop of the main server (see `Server::kill`).
    pub async fn kill(&mut self) {
        self.server.take().expect("server running").kill().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs one operation and returns the JSON response (asserting HTTP 200).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_at(&self.address, query, variables).await
    }

    /// Like `graphql`, against the server at `address` (another instance).
    pub async fn graphql_at(&self, address: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{address}/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "HTTP status of {query}");
        response.json().await.expect("JSON body")
    }

    /// Creates a user, asserting success; returns the `createUser` payload.
    pub async fn create_user(&self, name: &str, email: &str) -> Value {
        let body = self
            .graphql(
                CREATE_USER,
                json!({ "input": { "name": name, "email": email } }),
            )
            .await;
        assert_no_errors(&body);
        body["data"]["createUser"].clone()
    }

    /// Reads one user with a consistency token; returns the `user` field's value.
    pub async fn user(&self, id: &str, token: Option<&str>) -> Value {
        let body = self
            .graphql(USER, json!({ "id": id, "consistencyToken": token }))
            .await;
        body["data"]["user"].clone()
    }

    /// Like `user` with a token, retrying reads that time out (for tests that run the server with
    /// a short consistency timeout: on PostgreSQL, another test's open transaction anywhere on
    /// the server holds every log reader back for as long as it stays open).
    pub async fn user_eventually(&self, id: &str, token: &str) -> Value {
        let started = Instant::now();
        loop {
            let body = self
                .graphql(USER, json!({ "id": id, "consistencyToken": token }))
                .await;
            if body.get("errors").is_none() {
                return body["data"]["user"].clone();
            }
            assert_eq!(error_code(&body), "CONSISTENCY_TIMEOUT", "{body:#}");
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{id} never became readable"
            );
        }
    }

    /// Rows in the write model and the event log.
    pub async fn write_counts(&self) -> (usize, usize) {
        let users = users::Entity::find()
            .all(&self.write_db)
            .await
            .unwrap()
            .len();
        let events = user_events::Entity::find()
            .all(&self.write_db)
            .await
            .unwrap()
            .len();
        (users, events)
    }

    /// The write model and the read model, as comparable users sorted by id.
    pub async fn both_models(&self) -> (Vec<User>, Vec<User>) {
        let written = users::Entity::find()
            .order_by_asc(users::Column::Id)
            .all(&self.write_db)
            .await
            .unwrap();
        let viewed = users_view::Entity::find()
            .order_by_asc(users_view::Column::Id)
            .all(&self.read_db)
            .await
            .unwrap();
        (
            written.into_iter().map(User::from).collect(),
            viewed.into_iter().map(User::from).collect(),
        )
    }

    /// Waits until the read model equals the write model (bounded), and returns them.
    pub async fn converge(&self, within: Duration) -> Vec<User> {
        let started = Instant::now();
        loop {
            let (written, viewed) = self.both_models().await;
            if written == viewed {
                return written;
            }
            assert!(
                started.elapsed() < within,
                "read model did not converge in {within:?}: {} written, {} viewed",
                written.len(),
                viewed.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The holder of the projection lease, if any holds it now.
    pub async fn lease_holder(&self) -> Option<String> {
        let status = cqrs_users::projections::status(&self.write_db, &self.read_db)
            .await
            .unwrap();
        status
            .leader
            .filter(|(_, left)| *left > 0)
            .map(|(holder, _)| holder)
    }

    /// Runs one SQL statement on the read database (to break or inspect it on purpose).
    pub async fn execute_on_read_db(&self, sql: &str) {
        self.read_db.execute_unprepared(sql).await.expect(sql);
    }
}

/// The log and the read model agree: per-user versions run 1..=n in log order, the maintained
/// counts match the log, and the checkpoint is the log's head.
pub async fn assert_projected_exactly_once(app: &TestApp) {
    let log = cqrs_users::entities::user_events::Entity::find()
        .order_by_asc(cqrs_users::entities::user_events::Column::TxId)
        .order_by_asc(cqrs_users::entities::user_events::Column::Position)
        .all(&app.write_db)
        .await
        .unwrap();
    let mut versions = std::collections::HashMap::<_, i32>::new();
    let (mut created, mut deleted) = (0, 0);
    for event in &log {
        let last = versions.entry(event.user_id).or_default();
        assert_eq!(
            event.version,
            *last + 1,
            "versions of {} out of order in the log",
            event.user_id
        );
        *last = event.version;
        match event.event_type.as_str() {
            "UserCreated" => created += 1,
            "UserDeleted" => deleted += 1,
            _ => {}
        }
    }
    let stats = cqrs_users::entities::users_view_stats::Entity::find_by_id(
        cqrs_users::entities::users_view_stats::ROW_ID,
    )
    .one(&app.read_db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stats.created_count, created);
    assert_eq!(stats.user_count, created - deleted);
    let checkpoint = cqrs_users::projections::load_checkpoint(&app.read_db)
        .await
        .unwrap();
    assert_eq!(
        checkpoint,
        cqrs_users::events::head(&app.write_db).await.unwrap()
    );
}

/// The `cqrs-users` binary, with none of the configuration variables of this environment.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cqrs-users"));
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

/// Spawns `command` (a `binary()` told to serve) and waits for it to announce its address.
pub fn serve_binary(mut command: std::process::Command) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the binary");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server announces its address");
        if let Some(rest) = line.split("playground at ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    (child, address)
}

pub const CREATE_USER: &str = include_str!("../../playground/operations/createUser.graphql");
pub const UPDATE_USER_NAME: &str =
    include_str!("../../playground/operations/updateUserName.graphql");
pub const DELETE_USER: &str = include_str!("../../playground/operations/deleteUser.graphql");
pub const USER: &str = include_str!("../../playground/operations/user.graphql");
pub const USERS: &str = include_str!("../../playground/operations/users.graphql");

pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
}

/// The `extensions.code` of the only error in `body`.
pub fn error_code(body: &Value) -> &str {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body:#}"));
    assert_eq!(errors.len(), 1, "one error expected: {body:#}");
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error without code: {body:#}"))
}

/// Where a test's databases live, and their removal when the test ends.
enum Storage {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        names: [String; 2],
    },
}

impl Storage {
    async fn create(backend: &Backend) -> (Storage, String, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().display().to_string();
                let write = format!("sqlite://{path}/write.db?mode=rwc");
                let read = format!("sqlite://{path}/read.db?mode=rwc");
                (Storage::Sqlite(dir), write, read)
            }
            Backend::Postgres(admin_url) => {
                let admin = Database::connect(admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                let stem = format!("cqrs_test_{}", uuid::Uuid::now_v7().simple());
                let names = [format!("{stem}_write"), format!("{stem}_read")];
                for name in &names {
                    admin
                        .execute_unprepared(&format!("CREATE DATABASE {name}"))
                        .await
                        .expect("create test database");
                }
                let _ = admin.close().await;
                let write = cqrs_users::db::with_database_name(admin_url, &names[0]);
                let read = cqrs_users::db::with_database_name(admin_url, &names[1]);
                let storage = Storage::Postgres {
                    admin_url: admin_url.clone(),
                    names,
                };
                (storage, write, read)
            }
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let Storage::Postgres { admin_url, names } = self else {
            return;
        };
        let (admin_url, names) = (admin_url.clone(), names.clone());
        // Drop runs outside async; a short-lived runtime on its own thread removes the databases.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    for name in names {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                    }
                }
            });
        })
        .join();
    }
}

/// Everything the servers in this test binary log, for tests that look for a log line.
/// Printed to stderr as well when `TEST_LOG` is set.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        LOGS.get_or_init(Default::default)
            .lock()
            .unwrap()
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,cqrs_users=info")
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

//! `spawn_app`: fresh databases and a running server per test; restarts and more instances on
//! the same databases.

use std::ops::Deref;
use std::sync::Mutex;

use clap::Parser as _;
use cqrs_users::config::{Cli, ServeConfig};
use cqrs_users::projections::MemoryModel;
use cqrs_users::startup::Application;
use sea_orm::{Database, DatabaseConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::client::Client;
use crate::helpers::storage::Storage;
use crate::helpers::{Backend, logs};

/// A running server on fresh databases, with its own connections to look inside them. It is a
/// `Client` of its main server (`app.create_user(...)`).
pub struct TestApp {
    pub write_db: DatabaseConnection,
    pub read_db: DatabaseConnection,
    pub config: ServeConfig,
    client: Client,
    server: Option<Server>,
    /// Every instance this app started, restarts and `start_instance` included.
    instances: Mutex<Vec<String>>,
    _storage: Storage,
}

/// One running server (an instance), and a `Client` of it.
pub struct Server {
    pub instance_id: String,
    /// `http://host:port` of `/metrics` when served apart (`--metrics-listen`).
    pub metrics_address: Option<String>,
    /// Its in-memory read model (none with `--read-model database`).
    pub memory: Option<MemoryModel>,
    client: Client,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// A server on fresh databases of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
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
    logs::init();
    let (storage, urls) = Storage::create(&backend).await;
    let listen = ["--listen", "127.0.0.1:0"].map(str::to_owned);
    let databases = [
        "--database-url".to_owned(),
        route(&urls.write),
        "--read-database-url".to_owned(),
        route(&urls.read),
    ];
    let args = std::iter::once("cqrs-users".to_owned())
        .chain(listen)
        .chain(databases)
        .chain(flags.iter().map(|f| f.to_string()));
    let config = Cli::try_parse_from(args).expect("valid flags").serve;
    let write_db = Database::connect(&urls.write).await;
    let read_db = Database::connect(&urls.read).await;
    let first = Server::start(&config, reqwest::Client::new()).await;
    TestApp {
        write_db: write_db.expect("connect to write db"),
        read_db: read_db.expect("connect to read db"),
        config,
        client: first.client.clone(),
        instances: Mutex::new(vec![first.instance_id.clone()]),
        server: Some(first),
        _storage: storage,
    }
}

impl TestApp {
    /// Starts the server (again) on the same databases, on a new port.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "server already running");
        let server = self.start_instance().await;
        self.client = server.client.clone();
        self.server = Some(server);
    }

    /// Another instance on the same databases, as a second process would be.
    pub async fn start_instance(&self) -> Server {
        self.start_instance_with(|_| {}).await
    }

    /// Another instance on the same databases, its configuration changed by `change`.
    pub async fn start_instance_with(&self, change: impl FnOnce(&mut ServeConfig)) -> Server {
        let mut config = self.config.clone();
        change(&mut config);
        let server = Server::start(&config, self.client.http().clone()).await;
        let mut instances = self.instances.lock().unwrap();
        instances.push(server.instance_id.clone());
        server
    }

    /// The main server's in-memory read model.
    pub fn memory(&self) -> &MemoryModel {
        let server = self.server.as_ref().expect("server running");
        server.memory.as_ref().expect("an in-memory read model")
    }

    /// The lease holder name of the main server.
    pub fn instance_id(&self) -> &str {
        &self.server.as_ref().expect("server running").instance_id
    }

    /// The main server's `/metrics`: on its own address with `--metrics-listen`.
    pub fn metrics_url(&self) -> String {
        let server = self.server.as_ref().expect("server running");
        match &server.metrics_address {
            Some(address) => format!("{address}/metrics"),
            None => self.url("/metrics"),
        }
    }

    /// The client of the main server, to clone into spawned tasks.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Graceful stop: in-flight requests finish, the projector stops between batches.
    pub async fn stop(&mut self) {
        self.server.take().expect("server running").stop().await;
    }

    /// Abrupt stop of the main server (see `Server::kill`).
    pub async fn kill(&mut self) {
        self.server.take().expect("server running").kill().await;
    }

    /// What the servers this app started have logged, in order: never another test's lines.
    pub fn logs(&self) -> String {
        logs::of(&self.instances.lock().unwrap())
    }
}

impl Deref for TestApp {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Server {
    async fn start(config: &ServeConfig, http: reqwest::Client) -> Server {
        let app = Application::build(config).await.expect("build the app");
        Server {
            instance_id: app.instance_id().to_owned(),
            metrics_address: app.metrics_addr().map(|addr| format!("http://{addr}")),
            memory: app.memory_model(),
            client: Client::sharing(http, format!("http://{}", app.local_addr())),
            shutdown: app.shutdown_token(),
            handle: tokio::spawn(app.run()),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let ran = self.handle.await.expect("server task");
        ran.expect("server ran cleanly");
    }

    /// Abrupt stop, as close to `kill -9` as one process allows: the server task and its
    /// background tasks are dropped wherever they are; open transactions roll back.
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

impl Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

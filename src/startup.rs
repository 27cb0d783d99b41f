//! Startup as a value: `Application::build` binds, connects, migrates and wires the buses;
//! `run` serves until shut down, then stops the background tasks (projector at a batch boundary).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::DbBackend;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;

use crate::auth::Authenticator;
use crate::commands::{CommandBus, CommandHandlers};
use crate::config::{Auth, HttpLimits, ReadModel, ServeConfig};
use crate::db::{self, Databases};
use crate::domain::LogPosition;
use crate::events;
use crate::graphql;
use crate::http::{self, AppState, Readiness};
use crate::notify;
use crate::projections::{Lease, MemoryModel, Projector, ProjectorSettings, USERS_VIEW};
use crate::queries::{QueryBus, QueryHandlers};
use crate::signals::{ProjectionProgress, Wakeup};
use crate::subscriptions::{Admission, LiveEvents};
use crate::telemetry::Metrics;

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// `--metrics-listen`'s listener and router, if `/metrics` is served apart.
    metrics: Option<(TcpListener, axum::Router)>,
    limits: HttpLimits,
    projector: Projector,
    live: LiveEvents,
    live_start: LogPosition,
    /// The in-memory read model, fed from the log in `run` (none with `--read-model database`).
    memory: Option<MemoryModel>,
    log_poll: Duration,
    /// Re-reads its key file while the server runs (none without authentication).
    authenticator: Option<Authenticator>,
    committed: Wakeup,
    appended: Wakeup,
    progress: Arc<ProjectionProgress>,
    databases: Databases,
    urls: (String, String),
    /// The `instance` span, parent of everything this server logs.
    span: tracing::Span,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        // Refuse a non-loopback address without authentication (or --insecure-no-auth), a key
        // that cannot be used, a database of another engine, and a port in use, before
        // creating anything.
        let authenticator = Authenticator::new(&config.jwt)?;
        db::check_urls(config)?;
        let resolved = http::resolve(&config.listen).await?;
        let auth = config
            .exposure
            .auth(&config.listen, &resolved, authenticator.is_some())?;
        let browsers = http::Browsers::new(auth, &config.exposure)?;
        let listener = http::bind(&config.listen, &resolved).await?;
        let databases = db::connect_and_migrate(config).await?;
        crate::projections::check_not_ahead_of_log(&databases.log, &databases.read).await?;
        // Commands wake `committed`; the log's followers wait on `appended`. On PostgreSQL a
        // publisher passes local commits on and announces them to the other instances, and the
        // live tail has a wake-up of its own (see `run`).
        let committed = Wakeup::default();
        let appended = match databases.write.get_database_backend() {
            DbBackend::Postgres => Wakeup::default(),
            _ => committed.clone(),
        };
        let progress = Arc::new(ProjectionProgress::default());
        let shutdown = CancellationToken::new();
        let metrics = Metrics::new(&databases);

        let commands = CommandBus::new(CommandHandlers::new(
            databases.write.clone(),
            committed.clone(),
        ));
        let memory = (config.read_model == ReadModel::Memory)
            .then(|| MemoryModel::new(config.read_model_max_users));
        let queries = QueryBus::new(
            QueryHandlers::new(databases.read.clone(), memory.clone()),
            progress.clone(),
            databases.log.clone(),
            memory.clone(),
            config.consistency_timeout(),
        );
        // Subscribers start from the log's visible head as of now, before any request is served.
        let buffer = usize::try_from(config.subscription_buffer).unwrap_or(usize::MAX);
        let live = LiveEvents::new(
            databases.log.clone(),
            databases.replay.clone(),
            buffer,
            Admission::new(config.ws_limits),
            shutdown.clone(),
        )
        .counted_in(metrics.live());
        let live_start = events::visible_head(&databases.log)
            .await
            .context("find the head of the event log")?;
        let instance = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
        // Every line this server logs, from a request or a background task, names the instance.
        let span = tracing::info_span!("instance", id = %instance);
        let state = AppState {
            schema: graphql::schema(
                commands,
                queries,
                live.clone(),
                config.query_limits,
                graphql::Switches {
                    introspection: !config.exposure.disable_introspection,
                    suggestions: !config.exposure.disable_suggestions,
                },
                graphql::Persisted::new(&config.documents)?,
                graphql::Observe {
                    metrics: metrics.clone(),
                    log: !config.observability.no_operation_log,
                },
            ),
            readiness: Readiness {
                write_db: databases.write.clone(),
                read_db: databases.read.clone(),
            },
            limits: config.http_limits,
            browsers,
            gate: http::Gate::new(authenticator.clone()),
            scrape: http::Scrape {
                metrics: metrics.clone(),
                log_db: databases.log.clone(),
                read_db: databases.read.clone(),
                on_main: config.observability.metrics_listen.is_none(),
            },
        };
        let settings = projector_settings(config);
        let projector = Projector {
            log_db: databases.log.clone(),
            read_db: databases.projector.clone(),
            progress: progress.clone(),
            appended: appended.clone(),
            lease: Lease::new(USERS_VIEW, instance, settings.lease_ttl),
            settings,
            metrics: metrics.projector(),
        };
        let metrics = match config.observability.metrics_listen {
            Some(addr) => Some((
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listen for /metrics on {addr}"))?,
                http::metrics::router(state.scrape.clone()),
            )),
            None => None,
        };
        match (auth, &authenticator) {
            (Auth::Jwt, Some(authenticator)) => {
                tracing::info!("authenticating callers: {}", authenticator.describe());
            }
            (Auth::Jwt, None) => anyhow::bail!("JWT authentication is configured without a key"),
            (Auth::None { insecure: false }, _) => tracing::info!(
                "serving without authentication, on loopback only, to loopback Host names"
            ),
            (Auth::None { insecure: true }, _) => tracing::info!(
                "serving without authentication to anyone who reaches {} (--insecure-no-auth)",
                config.listen
            ),
        }
        Ok(Self {
            listener,
            router: http::router(state, span.clone()),
            metrics,
            limits: config.http_limits,
            span,
            projector,
            live,
            live_start,
            memory,
            log_poll: config.log_poll(),
            authenticator,
            committed,
            appended,
            progress,
            databases,
            urls: (
                config.write_database_url().to_owned(),
                config.read_database_url().to_owned(),
            ),
            shutdown,
        })
    }

    /// This instance's name as a projection lease holder.
    pub fn instance_id(&self) -> &str {
        self.projector.lease.holder()
    }

    /// The in-memory read model, if this instance keeps one (to compare it with users_view).
    pub fn memory_model(&self) -> Option<MemoryModel> {
        self.memory.clone()
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// The address `/metrics` is served on apart (`--metrics-listen`), if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        let (listener, _) = self.metrics.as_ref()?;
        listener.local_addr().ok()
    }

    /// Cancel it to shut down gracefully: stop accepting, finish in-flight requests (for at most
    /// `--shutdown-grace-ms`), end subscriptions, then stop the projector between batches.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        // Background tasks stop after the HTTP server: queries waiting on a token are still served.
        let stop = CancellationToken::new();
        let instance = self.projector.lease.holder().to_owned();
        let span = self.span;
        // The live tail waits on `appended`. On PostgreSQL with the in-memory model it also wakes
        // when a read finds the model short of its token, not only once per `NOTIFY` the
        // publisher sends (see `notify`): it waits on the model's own `wanted`, so that wake is
        // no task hop away, and `appended` is relayed into it.
        let on_postgres = self.databases.write.get_database_backend() == DbBackend::Postgres;
        let wanted = (self.memory.as_ref())
            .filter(|_| on_postgres)
            .map(MemoryModel::wanted);
        let tail_woken = wanted.clone().unwrap_or_else(|| self.appended.clone());
        let mut tasks = vec![
            spawn_in(&span, self.projector.run(stop.clone())),
            spawn_in(
                &span,
                self.live
                    .clone()
                    .tail(tail_woken, self.live_start, self.log_poll, stop.clone()),
            ),
        ];
        if let Some((listener, router)) = self.metrics {
            let serving = http::serve(listener, router, self.limits, stop.clone());
            tasks.push(spawn_in(&span, serving));
        }
        if let Some(memory) = self.memory {
            let (live, read) = (self.live.clone(), self.databases.read.clone());
            let follow = memory.follow(read, move |after| live.feed(after), stop.clone());
            tasks.push(spawn_in(&span, follow));
        }
        if let Some(authenticator) = &self.authenticator {
            tasks.push(spawn_in(&span, authenticator.reload_task(stop.clone())));
        }
        if let Some(wanted) = wanted {
            tasks.push(spawn_in(&span, self.appended.relay(wanted, stop.clone())));
        }
        if on_postgres {
            let (write_url, read_url) = self.urls.clone();
            tasks.push(spawn_in(
                &span,
                notify::publish_appends(
                    self.databases.write.clone(),
                    self.committed.clone(),
                    self.appended.clone(),
                    instance.clone(),
                    stop.clone(),
                ),
            ));
            tasks.push(spawn_in(
                &span,
                notify::relay_postgres_notifications(
                    write_url,
                    read_url,
                    instance,
                    self.appended.clone(),
                    self.progress.clone(),
                    stop.clone(),
                ),
            ));
        }
        http::serve(self.listener, self.router, self.limits, self.shutdown)
            .instrument(span)
            .await;
        stop.cancel();
        for task in tasks.drain(..) {
            task.await.context("background task")?;
        }
        for db in [
            self.databases.write,
            self.databases.log,
            self.databases.replay,
            self.databases.read,
            self.databases.projector,
        ] {
            if let Err(err) = db.close().await {
                tracing::debug!(error = %err, "closing a pool");
            }
        }
        Ok(())
    }
}

/// The projector's tuning, from the serving flags (also what `projections rebuild` batches by).
pub fn projector_settings(config: &ServeConfig) -> ProjectorSettings {
    ProjectorSettings {
        batch_size: config.projector_batch_size,
        lease_ttl: Duration::from_millis(config.projector_lease_ms),
        ..ProjectorSettings::default()
    }
}

/// Spawns a background task in the instance's span; it is aborted if the handle is dropped, so a
/// dropped server leaves no task behind.
fn spawn_in(
    span: &tracing::Span,
    task: impl Future<Output = ()> + Send + 'static,
) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(task.instrument(span.clone())))
}

//! Startup as a value: `Application::build` connects, migrates, wires the buses and binds;
//! `run` serves until shut down, then stops the projector at a batch boundary.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::commands::{CommandBus, CommandHandlers};
use crate::config::ServeConfig;
use crate::db::{self, Databases};
use crate::graphql;
use crate::http::{self, AppState, Readiness};
use crate::projections::{ProjectionProgress, Projector, ProjectorSettings};
use crate::queries::{QueryBus, QueryHandlers};

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    projector: Projector,
    databases: Databases,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let databases = db::connect_and_migrate(config).await?;
        let appended = Arc::new(Notify::new());
        let progress = Arc::new(ProjectionProgress::default());

        let commands = CommandBus::new(CommandHandlers::new(
            databases.write.clone(),
            appended.clone(),
        ));
        let queries = QueryBus::new(
            QueryHandlers::new(databases.read.clone()),
            progress.clone(),
            config.consistency_timeout(),
        );
        let state = AppState {
            schema: graphql::schema(commands, queries),
            readiness: Readiness {
                write_db: databases.write.clone(),
                read_db: databases.read.clone(),
                progress: progress.clone(),
            },
        };
        let projector = Projector {
            write_db: databases.write.clone(),
            read_db: databases.read.clone(),
            progress,
            appended,
            settings: ProjectorSettings {
                batch_size: config.projector_batch_size,
                ..ProjectorSettings::default()
            },
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listen on {}", config.listen))?;
        Ok(Self {
            listener,
            router: http::router(state),
            projector,
            databases,
            shutdown: CancellationToken::new(),
        })
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// Cancel it to shut down gracefully: stop accepting, finish in-flight requests, then stop
    /// the projector between batches.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let projector_stop = CancellationToken::new();
        // Aborted if this future is dropped, so a dropped server leaves no projector behind.
        let projector =
            AbortOnDropHandle::new(tokio::spawn(self.projector.run(projector_stop.clone())));
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(self.shutdown.cancelled_owned())
            .await
            .context("serve HTTP");
        // In-flight queries waiting on a consistency token were served by a running projector.
        projector_stop.cancel();
        projector.await.context("projector task")?;
        for db in [self.databases.write, self.databases.read] {
            if let Err(err) = db.close().await {
                tracing::debug!(error = %err, "closing a pool");
            }
        }
        served
    }
}

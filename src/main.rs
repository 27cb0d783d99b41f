//! The `cqrs-users` binary: configuration, telemetry, startup, run.

use std::process::ExitCode;

use cqrs_users::config::{Cli, Command, MigrateCommand, ProjectionsCommand, ServeConfig};
use cqrs_users::startup::{self, Application};
use cqrs_users::{db, graphql, projections, telemetry};

/// mimalloc returns freed memory to the system; glibc's allocator kept a burst's peak for good
/// (README, "Limits": RSS after the hostile corpus). Built without transparent huge pages: with
/// them every touched 2 MiB of its arena was resident, 12 MiB idle for 3 MiB of live data.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::from_command_line();
    let tracer = match telemetry::init(&cli.telemetry) {
        Ok(tracer) => tracer,
        Err(err) => {
            eprintln!("cannot set up logging and tracing: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        None => serve(&cli.serve).await,
        Some(Command::Serve(config)) => serve(&config).await,
        Some(Command::Migrate { action }) => migrate(&cli.serve, action).await,
        Some(Command::PrintSchema { output: None }) => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Some(Command::PrintSchema { output: Some(path) }) => std::fs::write(&path, graphql::sdl())
            .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display())),
        Some(Command::Projections { action }) => projections(&cli.serve, action).await,
    };
    if let Err(err) = &result {
        tracing::error!("{}", said_once(err));
    }
    let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// The error and its causes on one line, each said once: a cause whose words its context
/// already carries (sea-orm and sqlx repeat their sources) is left out.
fn said_once(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if !line.contains(&said) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&said);
        }
    }
    line
}

async fn serve(config: &ServeConfig) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let addr = app.local_addr();
    tracing::info!(
        write_db = %db::redact(config.write_database_url()),
        read_db = %db::redact(config.read_database_url()),
        "playground at http://{addr}/ , GraphQL at http://{addr}/graphql"
    );
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown.cancel();
    });
    app.run().await
}

async fn migrate(config: &ServeConfig, action: Option<MigrateCommand>) -> anyhow::Result<()> {
    match action {
        None => db::migrate(config)
            .await?
            .iter()
            .for_each(|db| print!("{db}")),
        Some(MigrateCommand::Status) => db::migration_status(config)
            .await?
            .iter()
            .for_each(|db| print!("{db}")),
    }
    Ok(())
}

async fn projections(config: &ServeConfig, action: ProjectionsCommand) -> anyhow::Result<()> {
    let dbs = db::connect_migrated(config).await?;
    match action {
        ProjectionsCommand::Status => {
            print!("{}", projections::status(&dbs.log, &dbs.read).await?);
        }
        ProjectionsCommand::Rebuild { accept_lost_events } => {
            let settings = startup::projector_settings(config);
            let report = projections::rebuild(
                &dbs.log,
                &dbs.read,
                settings.batch_size,
                settings.lease_ttl,
                accept_lost_events,
            )
            .await?;
            println!(
                "rebuilt users_view: {} events replayed, {} users, checkpoint {}",
                report.events, report.users, report.checkpoint
            );
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

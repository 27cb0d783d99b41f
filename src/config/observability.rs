//! The observability flags: the log's filter and format and where traces go (`Telemetry`, for
//! every subcommand), and what a server exposes of itself (`Observability`: `/metrics`, the
//! operation log). README, "Observability".

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

/// How the process logs and traces, whatever it runs (flattened into `Cli`).
#[derive(Debug, Clone, Args)]
pub struct Telemetry {
    /// Log filter: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or `tracing`
    /// directives (`info,cqrs_users=debug`). Anything else is refused at start.
    #[arg(long, env = "LOG_LEVEL", default_value = super::DEFAULT_LOG_FILTER, global = true, value_parser = log_filter)]
    pub log_level: String,

    /// Log lines as text (for people) or JSON objects, one a line (for log collectors).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Export trace spans over OTLP (HTTP, protobuf) to this collector base URL
    /// (`http://127.0.0.1:4318`; `/v1/traces` is appended). Default: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true, value_parser = otlp_endpoint)]
    pub otlp_endpoint: Option<url::Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What a server exposes of itself (flattened into `ServeConfig`).
#[derive(Debug, Clone, Copy, Args)]
pub struct Observability {
    /// Serve `GET /metrics` (Prometheus text format) on this address instead of the main one.
    /// Default: on the main address, beside `/healthz`.
    #[arg(long, env = "METRICS_LISTEN_ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Do not log one `info` line per GraphQL operation (name, type, outcome, duration).
    /// Default: logged.
    #[arg(long, env = "NO_OPERATION_LOG")]
    pub no_operation_log: bool,
}

/// The levels a directive may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Accepts what `tracing_subscriber::EnvFilter` parses, where every directive names a level:
/// `EnvFilter` alone takes a lone unknown word (`verbose`) as a target, at level `trace`.
fn log_filter(value: &str) -> Result<String, String> {
    let is_level = |word: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word.trim()));
    for directive in value.split(',').filter(|d| !d.trim().is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            None if directive.contains('[') => continue,
            None => directive,
        };
        if !is_level(level) {
            return Err(format!(
                "`{directive}` names no level; use one of {} or `target=level`",
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(value)
        .map(|_| value.to_owned())
        .map_err(|err| err.to_string())
}

/// An `http` or `https` URL.
fn otlp_endpoint(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|err| err.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "`{other}`: the endpoint must be an http:// or https:// URL"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn levels_and_directives_are_accepted() {
        for filter in [
            "info",
            "DEBUG",
            "warn,cqrs_users=debug",
            "tower_http=off",
            "off",
        ] {
            assert_eq!(log_filter(filter).as_deref(), Ok(filter));
        }
    }

    #[test]
    fn words_that_name_no_level_are_refused() {
        for filter in ["verbose", "info,chatty", "cqrs_users=loud", "info,="] {
            assert!(log_filter(filter).is_err(), "{filter} was accepted");
        }
    }
}

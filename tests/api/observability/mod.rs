//! What an operator sees of a running server: `/metrics` (Prometheus), trace spans (OpenTelemetry)
//! and the log (request ids, one line per operation, JSON).

mod logs;
mod metrics;
mod traces;

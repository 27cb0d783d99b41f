//! The integration suite: one binary, a real server on a random port per test. A test is an
//! `async fn(Backend)`; the `both_engines!` list at the end of its file runs it as
//! `<file>::<test>::sqlite` and `::postgres`. PostgreSQL-only tests are `#[tokio::test]`s.

mod helpers;

mod auth;
mod auth_ws;
mod browsers;
mod cli;
mod concurrency;
mod consistency;
mod create_batches;
mod create_user;
mod delete_user;
mod faults;
mod freeze;
mod get_user;
mod hostile_arguments;
mod hostile_connections;
mod hostile_http;
mod hostile_query;
mod hostile_ws;
mod http;
mod http_spec;
mod instances;
mod list_users;
mod memory_bound;
mod memory_model;
mod migrate;
mod node_clients;
mod observability;
mod ordering;
mod persisted_queries;
mod playground;
mod projector_batches;
mod readme;
mod rebuild;
mod restart;
mod schema;
mod subscriptions;
mod tidy;
mod trusted_documents;
mod update_user_name;

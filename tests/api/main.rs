//! The integration suite: one binary, a real server on a random port per test.

mod helpers;

mod cli;
mod concurrency;
mod consistency;
mod create_user;
mod delete_user;
mod faults;
mod freeze;
mod get_user;
mod http;
mod instances;
mod list_users;
mod ordering;
mod rebuild;
mod restart;
mod schema;
mod subscriptions;
mod tidy;
mod update_user_name;

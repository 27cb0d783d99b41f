//! The integration suite: one binary, a real server on a random port per test.

mod helpers;

mod cli;
mod concurrency;
mod consistency;
mod create_user;
mod delete_user;
mod get_user;
mod http;
mod list_users;
mod restart;
mod schema;
mod update_user_name;

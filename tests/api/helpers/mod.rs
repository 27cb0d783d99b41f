//! The harness, one file per job: engines, fresh databases, the app and its servers, a typed
//! client, hostile requests and raw HTTP to send them, looking inside the databases, logs per
//! app, the binary, load, a proxy, WebSockets, documents named by hash, `/metrics` parsed.

mod app;
mod backend;
mod binary;
mod client;
mod hostile;
mod inspect;
mod load;
mod logs;
mod metrics;
mod payloads;
pub mod persisted;
pub mod proxy;
pub mod raw;
mod storage;
pub mod tokens;
pub mod traces;
mod wait;
pub mod ws;

pub use app::{Server, TestApp, spawn_app, spawn_app_routed, spawn_app_with};
pub use backend::Backend;
pub(crate) use backend::both_engines;
pub use binary::{Served, binary};
pub use client::Client;
pub use hostile::{assert_raw_refused, assert_refusal, assert_refused};
pub use load::Load;
pub use metrics::Scraped;
pub use payloads::{
    CREATE_USER, DELETE_USER, UPDATE_USER_NAME, USER, USERS, assert_no_errors, error_code,
};
pub use storage::{Storage, Urls};
pub use wait::eventually;

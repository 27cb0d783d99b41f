//! cqrs-users: a users service showing CQRS behind a GraphQL API.
//!
//! The flow, in module order:
//! - [`http`] receives `/graphql` and hands the request to the schema in [`graphql`];
//! - [`graphql`] resolvers parse input into [`domain`] types and dispatch a message:
//!   - a mutation becomes a command on the [`commands`] bus; its handler writes the write model
//!     (`users`) and appends one event to the log ([`events`]) in one transaction;
//!   - the projector in [`projections`] follows the log in order and updates the read model
//!     (`users_view`), storing its checkpoint in the same transaction;
//!   - a query becomes a query message on the [`queries`] bus; its handler reads only the read model,
//!     after waiting for the client's consistency token if it sent one;
//!   - a subscription replays and then follows the log through [`subscriptions`].
//!
//! [`signals`] carries "the log grew" and "the read model moved" between the two sides within an
//! instance, and [`notify`] between instances on PostgreSQL.
//!
//! [`auth`] verifies a request's bearer token (a JWT) and answers the caller's `domain::Identity`.
//!
//! [`entities`] holds the SeaORM entities of both models; [`config`], [`db`], [`telemetry`] and
//! [`startup`] build and run the server.

pub mod auth;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod entities;
pub mod events;
pub mod graphql;
pub mod http;
pub mod notify;
pub mod projections;
pub mod queries;
pub mod signals;
pub mod startup;
pub mod subscriptions;
pub mod telemetry;

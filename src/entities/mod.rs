//! SeaORM entities of both models. Qualify them at use sites (`users::Model`, `users_view::Model`).
//!
//! Write database: `users`, `user_events`. Read database: `users_view`, `users_view_stats`,
//! `projection_checkpoints`, `projection_leases`. The tables themselves are made by the `migration` crate.

pub mod projection_checkpoints;
pub mod projection_leases;
pub mod user_events;
pub mod users;
pub mod users_view;
pub mod users_view_stats;

//! Value types both sides share: identifiers, validated names and addresses, log positions, the
//! user record, and the caller with what it may do.
//!
//! Each type parses its raw form once (`UserName::parse`, `Email::parse`, ...), so a value of the type
//! is valid by construction and commands and queries never re-check it.

mod caller;
mod email;
mod invalid_input;
mod position;
mod user;
mod user_id;
mod user_name;

pub use caller::{ANONYMOUS, Caller, CorrelationId, Denied, Identity, Scopes};
pub use email::Email;
pub use invalid_input::InvalidInput;
pub use position::LogPosition;
pub use user::User;
pub use user_id::UserId;
pub use user_name::UserName;

/// The current time, truncated to what both databases store (microseconds).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

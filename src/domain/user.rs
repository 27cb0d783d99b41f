//! `User`: a user's state as either model stores it, the common output of commands and queries.

use chrono::{DateTime, Utc};

use crate::domain::UserId;

/// A snapshot of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// 1 after creation, +1 for every later change.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

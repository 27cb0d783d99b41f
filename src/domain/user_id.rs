//! `UserId`: the identifier of a user, a UUIDv7 (time-ordered, made by any writer without coordination).

use std::fmt;

use uuid::Uuid;

use crate::domain::InvalidInput;

/// Identifies a user. Clients see it as an opaque string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// A fresh identifier for a new user.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses an identifier a client sent; anything that is not a UUID is refused.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, InvalidInput> {
        Uuid::try_parse(raw.trim())
            .map(Self)
            .map_err(|_| InvalidInput::new(field, "is not a user id"))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for UserId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

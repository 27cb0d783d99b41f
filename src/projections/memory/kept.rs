//! A user as the in-memory model keeps it: 48 bytes and one allocation for name and address,
//! where a `User` is 96 bytes and two allocations. Whatever holds it keeps the id: beside it in
//! `all.rs`'s slot, as the key of `hot.rs`'s cache.

use chrono::{DateTime, Utc};

use crate::domain::{User, UserId};

#[derive(Debug)]
pub(super) struct Kept {
    /// The name, then the email.
    text: Box<str>,
    name_len: u32,
    pub(super) version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Kept {
    pub(super) fn new(user: User) -> Self {
        // Names are at most 100 characters (`UserName`); the bound only keeps the cast honest.
        let name_len = u32::try_from(user.name.len()).expect("a name shorter than 4 GiB");
        // Sized once: appending to the name's own buffer grew it, and boxing shrank it again,
        // two reallocations a user (8% of a 100 000-user load's CPU).
        let mut text = String::with_capacity(user.name.len() + user.email.len());
        text.push_str(&user.name);
        text.push_str(&user.email);
        Self {
            text: text.into_boxed_str(),
            name_len,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }

    /// The user with `id` as kept.
    pub(super) fn user(&self, id: UserId) -> User {
        let (name, email) = self.text.split_at(self.name_len as usize);
        User {
            id,
            name: name.to_owned(),
            email: email.to_owned(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

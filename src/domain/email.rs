//! `Email`: an address, trimmed and lower-cased, at most 254 characters, plausibly shaped.

use std::fmt;

use crate::domain::InvalidInput;

/// A valid, normalised email address. Two addresses that differ only in case are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    /// Accepts one `@` between a non-empty local part and a domain that has a dot with text on
    /// both sides; no whitespace or control characters. Deliverability is not this type's business.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim().to_lowercase();
        let chars = email.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(InvalidInput::too_long("email", Self::MAX_CHARS, chars));
        }
        let invalid = || InvalidInput::new("email", "is not a valid email address");
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain
            .split_once('.')
            .is_some_and(|_| !domain.starts_with('.') && !domain.ends_with('.'));
        if local.is_empty() || domain.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn refuses_implausible_addresses() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a@b@c.com",
            "ada@.com",
            "ada@example.",
            "a da@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn limits_length() {
        let local = "a".repeat(242);
        assert!(Email::parse(&format!("{local}@example.com")).is_ok());
        assert!(Email::parse(&format!("{local}a@example.com")).is_err());
    }
}

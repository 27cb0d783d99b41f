//! `UserName`: a display name, trimmed, 1 to 100 characters, without control characters.

use std::fmt;

use crate::domain::InvalidInput;

/// A valid user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err(InvalidInput::new("name", "must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidInput::too_long("name", Self::MAX_CHARS, chars));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_inner_spaces() {
        assert_eq!(
            UserName::parse("  Ada  Lovelace ").unwrap().as_str(),
            "Ada  Lovelace"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
        assert!(UserName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn refuses_blank_and_control_characters() {
        assert!(UserName::parse(" \t ").is_err());
        assert!(UserName::parse("Ada\u{0}").is_err());
        assert!(UserName::parse("Ada\nLovelace").is_err());
    }
}

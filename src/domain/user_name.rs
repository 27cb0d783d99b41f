//! `UserName`: a display name, trimmed, 1 to 100 characters, without control, invisible or
//! text-direction characters.

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
        if let Some(c) = name
            .chars()
            .find(|c| c.is_control() || is_hidden_format(*c))
        {
            let code = u32::from(c);
            let reason = format!(
                "must not contain control, invisible or text-direction characters (found \
                 U+{code:04X})"
            );
            return Err(InvalidInput::new("name", reason));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that show nothing or reorder what follows: zero-width spaces and joiners, direction
/// marks, embeddings, overrides and isolates, the word joiner and invisible operators, and the
/// byte-order mark. A name holding one can look like another user's, or reverse the text shown
/// after it.
fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
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

    #[test]
    fn refuses_invisible_and_text_direction_characters() {
        for c in [
            '\u{200B}', '\u{200D}', '\u{200F}', '\u{202A}', '\u{202E}', '\u{2066}',
        ]
        .into_iter()
        .chain(['\u{2069}', '\u{2060}', '\u{FEFF}'])
        {
            let refused = UserName::parse(&format!("Ada{c}Lovelace")).unwrap_err();
            assert_eq!(refused.field, "name");
            let code = format!("U+{:04X}", u32::from(c));
            assert!(refused.reason.contains(&code), "{}", refused.reason);
        }
    }

    #[test]
    fn keeps_visible_letters_of_every_script() {
        for name in [
            "Zoë",
            "Łukasz",
            "李小龍",
            "محمد",
            "שלום",
            "Ada-Lovelace O'Neil",
        ] {
            assert_eq!(UserName::parse(name).unwrap().as_str(), name);
        }
    }
}

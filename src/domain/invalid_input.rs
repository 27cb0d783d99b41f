//! `InvalidInput`: why a raw value from a client was refused.

/// A client sent a value that cannot be accepted. Clients see it as `BAD_USER_INPUT`, with the
/// offending field named in the error's extensions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    /// The argument or input field at fault, as the client named it (`name`, `email`, `id`, ...).
    pub field: &'static str,
    /// What is wrong with it, for a person to read.
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// `field` has `chars` characters, more than the `max` it may have.
    pub(crate) fn too_long(field: &'static str, max: usize, chars: usize) -> Self {
        Self::new(
            field,
            format!("must be at most {max} characters, got {chars}"),
        )
    }
}

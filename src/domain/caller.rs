//! `Caller`: who sent a command or query (`Identity`, with its scopes) and under which request
//! (`CorrelationId`), and what that allows (`Access`), decided without I/O.

use std::fmt;

use uuid::Uuid;

use crate::domain::UserId;

/// The actor events record when nobody authenticated (development mode).
pub const ANONYMOUS: &str = "anonymous";

/// Who sent a request, as the edge established it, and the request it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: Identity,
    pub correlation_id: CorrelationId,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No authentication is configured (development mode, on loopback or `--insecure-no-auth`):
    /// anyone who reaches the port may do everything, recorded as `anonymous`.
    Developer,
    /// Authentication is configured and the request carried no token: may only do what needs
    /// no scope (introspection, `__typename`).
    Unauthenticated,
    /// A verified token: its subject and the scopes it grants.
    Token { subject: String, scopes: Scopes },
}

/// The scopes a token grants (its `scope` or `scp` claim).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes {
    /// `users:read`: queries and subscriptions.
    pub read: bool,
    /// `users:write`: every command, on any user.
    pub write: bool,
    /// `users:write:self`: renaming or deleting only the user whose id is the token's subject.
    pub write_self: bool,
}

/// Why a caller may not do something. Neither says whether a user the request names exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Authentication is required and the caller has none. Clients see `UNAUTHENTICATED`.
    #[error("this needs a bearer token")]
    Unauthenticated,
    /// The caller's token does not grant this. Clients see `FORBIDDEN`.
    #[error("the token does not allow this: it needs the {0} scope")]
    Forbidden(&'static str),
}

impl Scopes {
    pub const READ: &'static str = "users:read";
    pub const WRITE: &'static str = "users:write";
    pub const WRITE_SELF: &'static str = "users:write:self";

    /// The scopes named in a space-separated list (OAuth's `scope`); unknown names are ignored.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut scopes = Scopes::default();
        for name in names {
            match name {
                Scopes::READ => scopes.read = true,
                Scopes::WRITE => scopes.write = true,
                Scopes::WRITE_SELF => scopes.write_self = true,
                _ => {}
            }
        }
        scopes
    }
}

impl Identity {
    /// Who events record as having caused them: the token's subject, or `anonymous`.
    pub fn actor(&self) -> &str {
        match self {
            Identity::Token { subject, .. } => subject,
            Identity::Developer | Identity::Unauthenticated => ANONYMOUS,
        }
    }

    /// May read users (queries, subscriptions).
    pub fn may_read(&self) -> Result<(), Denied> {
        self.needs(|scopes| scopes.read, Scopes::READ)
    }

    /// May create users.
    pub fn may_create(&self) -> Result<(), Denied> {
        self.needs(|scopes| scopes.write, Scopes::WRITE)
    }

    /// May try some change to an existing user: any write scope. Which user it may change is
    /// `may_change`'s to say, once the command has the user.
    pub fn may_change_some(&self) -> Result<(), Denied> {
        self.needs(|scopes| scopes.write || scopes.write_self, Scopes::WRITE)
    }

    /// May rename or delete the user `id`: with `users:write` any user, with `users:write:self`
    /// only the one whose id is the subject.
    pub fn may_change(&self, id: UserId) -> Result<(), Denied> {
        match self {
            Identity::Token { subject, scopes } if !scopes.write && scopes.write_self => {
                let own = UserId::parse(subject, "sub").is_ok_and(|own| own == id);
                if own {
                    Ok(())
                } else {
                    Err(Denied::Forbidden(Scopes::WRITE))
                }
            }
            _ => self.needs(|scopes| scopes.write, Scopes::WRITE),
        }
    }

    fn needs(&self, granted: impl Fn(&Scopes) -> bool, scope: &'static str) -> Result<(), Denied> {
        match self {
            Identity::Developer => Ok(()),
            Identity::Unauthenticated => Err(Denied::Unauthenticated),
            Identity::Token { scopes, .. } if granted(scopes) => Ok(()),
            Identity::Token { .. } => Err(Denied::Forbidden(scope)),
        }
    }
}

/// Ties the events a request caused to the request: the client's `x-request-id` when it sent a
/// usable one, or one made up for the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId(String);

impl CorrelationId {
    /// The longest id a client may choose.
    pub const MAX_LEN: usize = 128;

    /// A fresh id (a UUIDv7).
    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    /// The client's id, if it is 1 to `MAX_LEN` characters of letters, digits and `-_.:/+=`
    /// (what request ids and trace ids are made of); otherwise `None`, and the server makes one.
    pub fn from_client(raw: &str) -> Option<Self> {
        let usable = |c: char| c.is_ascii_alphanumeric() || "-_.:/+=".contains(c);
        (!raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.chars().all(usable))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Caller {
    /// A caller in development mode, for work no request started (tests, tools).
    pub fn developer() -> Self {
        Caller {
            identity: Identity::Developer,
            correlation_id: CorrelationId::generate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(scope: &str, subject: &str) -> Identity {
        Identity::Token {
            subject: subject.to_owned(),
            scopes: Scopes::parse(scope.split(' ')),
        }
    }

    #[test]
    fn each_scope_allows_its_own_messages_only() {
        let id = UserId::new();
        let reader = token("users:read", "someone");
        assert_eq!(reader.may_read(), Ok(()));
        assert_eq!(reader.may_create(), Err(Denied::Forbidden(Scopes::WRITE)));
        assert_eq!(reader.may_change(id), Err(Denied::Forbidden(Scopes::WRITE)));
        let writer = token("users:write", "someone");
        assert_eq!(writer.may_read(), Err(Denied::Forbidden(Scopes::READ)));
        assert_eq!(writer.may_create(), Ok(()));
        assert_eq!(writer.may_change(id), Ok(()));
    }

    #[test]
    fn write_self_changes_only_the_subjects_own_user_and_creates_nothing() {
        let own = UserId::new();
        let me = token("users:write:self", &own.to_string());
        assert_eq!(me.may_change_some(), Ok(()));
        assert_eq!(me.may_change(own), Ok(()));
        assert_eq!(
            me.may_change(UserId::new()),
            Err(Denied::Forbidden(Scopes::WRITE))
        );
        assert_eq!(me.may_create(), Err(Denied::Forbidden(Scopes::WRITE)));
        let not_a_user = token("users:write:self", "alice");
        assert!(not_a_user.may_change(own).is_err());
    }

    #[test]
    fn without_a_token_nothing_is_allowed_and_in_development_everything_is() {
        let id = UserId::new();
        let nobody = Identity::Unauthenticated;
        assert_eq!(nobody.may_read(), Err(Denied::Unauthenticated));
        assert_eq!(nobody.may_change(id), Err(Denied::Unauthenticated));
        assert_eq!(nobody.may_change_some(), Err(Denied::Unauthenticated));
        assert_eq!(Identity::Developer.may_change(id), Ok(()));
        assert_eq!(Identity::Developer.actor(), ANONYMOUS);
    }

    #[test]
    fn client_correlation_ids_are_kept_only_when_short_and_plain() {
        assert!(CorrelationId::from_client("req-1:abc/2").is_some());
        assert!(CorrelationId::from_client("").is_none());
        assert!(CorrelationId::from_client("a b").is_none());
        assert!(CorrelationId::from_client("x\u{202e}").is_none());
        assert!(CorrelationId::from_client(&"a".repeat(129)).is_none());
    }
}

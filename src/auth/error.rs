//! `AuthError`: why a bearer token was refused, in words safe to show its sender, and how each
//! of `jsonwebtoken`'s errors maps to one.

use jsonwebtoken::errors::{Error, ErrorKind};

/// Why a token was refused. `Display` is meant for the client: it says what to fix and shows no
/// key material, file path or configuration beyond what the token itself names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a JWT: not three base64url parts, or a part that is not JSON, or far too long.
    #[error("the bearer token is not a JWT (three base64url parts: header.payload.signature)")]
    Malformed,
    /// `exp` is past, beyond the leeway.
    #[error("the token expired: get a new one")]
    Expired,
    /// `nbf` is ahead, beyond the leeway.
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token comes from an issuer this service does not trust (iss)")]
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    #[error("the token is meant for another service: its aud does not name this one")]
    WrongAudience,
    /// The signature does not match the header and payload under the chosen key.
    #[error("the token's signature does not verify: it was changed or signed with another key")]
    BadSignature,
    /// The header's `kid` names no key in use (a JWKS key source).
    #[error("the token's kid names no signing key this service knows")]
    UnknownKey,
    /// The header has no `kid` and several keys in use could have signed it.
    #[error("the token names no kid and this service has several keys for its algorithm")]
    NoKeyId,
    /// `alg` is not the algorithm of the key in use (`none` included).
    #[error("the token is signed with an algorithm this service does not accept for it")]
    DisallowedAlgorithm,
    /// The header lists extensions in `crit`, which this service does not implement.
    #[error("the token's header has critical extensions (crit) this service does not understand")]
    CriticalHeader,
    /// A claim this service requires is absent, of the wrong type (`jsonwebtoken` does not tell
    /// them apart), or empty (`sub`).
    #[error("the token has no usable {0} claim, which this service requires")]
    MissingClaim(&'static str),
    /// An optional claim has the wrong type (`nbf` not a number, `scp` not strings, ...), or
    /// `sub` is longer than the 255 bytes an event records.
    #[error("the token's {0} claim has the wrong form")]
    InvalidClaim(&'static str),
}

impl AuthError {
    /// The refusal for a header `jsonwebtoken` could not read.
    pub(super) fn from_header(error: &Error) -> Self {
        match error.kind() {
            // JSON, but not a header it knows: `alg` names no algorithm it implements (`none`,
            // the classic forgery) or is absent.
            ErrorKind::Json(json) if json.classify() == serde_json::error::Category::Data => {
                AuthError::DisallowedAlgorithm
            }
            _ => AuthError::Malformed,
        }
    }

    /// The refusal for an error of `jsonwebtoken::decode`, after the header was read and a key
    /// chosen: the signature, then the registered claims.
    pub(super) fn from_decode(error: &Error) -> Self {
        match error.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(registered(claim)),
            ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim(registered(claim)),
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm => AuthError::DisallowedAlgorithm,
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => AuthError::Malformed,
            // The key in use does not fit its algorithm, which loading rules out: the server's
            // fault, but all the client can learn is that its token does not verify here.
            other => {
                tracing::warn!(error = ?other, "a JWT key in use failed to verify a token");
                AuthError::BadSignature
            }
        }
    }
}

/// The registered claim `jsonwebtoken` names, as a static string.
fn registered(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "sub" => "sub",
        "iss" => "iss",
        "aud" => "aud",
        _ => "required",
    }
}

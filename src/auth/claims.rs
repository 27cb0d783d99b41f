//! The claims read from a verified token: its subject, its expiry and its scopes (`scope`, the
//! OAuth 2 form, or `scp`), read loosely so that a wrong type is a named refusal.

use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{Identity, Scopes};

use super::{AuthError, Verified};

/// The longest `sub` taken, in bytes: it is stored with every event the caller causes. Issuers'
/// subjects are ids or addresses, far shorter.
const MAX_SUBJECT_BYTES: usize = 255;

/// The claims this service reads; `jsonwebtoken` checks `exp`, `nbf`, `iss` and `aud` itself.
/// Each is a JSON value, not a typed field: `decode` reads this struct before it validates, and
/// a typed field would turn "no sub" into "not JSON".
#[derive(Debug, Deserialize)]
pub(super) struct Claims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    scp: Option<Value>,
}

impl Claims {
    /// The identity and expiry the claims grant, or the claim that is missing or malformed.
    pub fn verified(&self) -> Result<Verified, AuthError> {
        let subject = match &self.sub {
            Some(Value::String(sub)) if sub.len() > MAX_SUBJECT_BYTES => {
                return Err(AuthError::InvalidClaim("sub"));
            }
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            Some(Value::String(_)) | None => return Err(AuthError::MissingClaim("sub")),
            Some(_) => return Err(AuthError::InvalidClaim("sub")),
        };
        let exp = match &self.exp {
            Some(exp) => exp
                .as_u64()
                .or_else(|| exp.as_f64().map(|secs| secs as u64)),
            None => return Err(AuthError::MissingClaim("exp")),
        };
        let expires_at = exp
            .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            .ok_or(AuthError::InvalidClaim("exp"))?;
        let mut names: Vec<&str> = Vec::new();
        match &self.scope {
            None => {}
            Some(Value::String(scope)) => names.extend(scope.split_ascii_whitespace()),
            Some(_) => return Err(AuthError::InvalidClaim("scope")),
        }
        match &self.scp {
            None => {}
            Some(Value::String(scp)) => names.extend(scp.split_ascii_whitespace()),
            Some(Value::Array(items)) => {
                for item in items {
                    names.push(item.as_str().ok_or(AuthError::InvalidClaim("scp"))?);
                }
            }
            Some(_) => return Err(AuthError::InvalidClaim("scp")),
        }
        Ok(Verified {
            identity: Identity::Token {
                subject,
                scopes: Scopes::parse(names),
            },
            expires_at,
        })
    }
}

//! Helpers for the `auth` tests: the fixture keys (tests/fixtures/jwt), flags, claims, token
//! signing, and hand-made tokens.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::Authenticator;
use crate::config::JwtConfig;

mod algorithms;
mod keys;
mod reload;

const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "cqrs-users";
const SUBJECT: &str = "0190c6f2-9d6e-7c1a-8d3e-2b7f5a4c1e90";
/// A secret of exactly the shortest length accepted.
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Flags with issuer and audience but no key source yet.
fn flags() -> JwtConfig {
    JwtConfig {
        jwt_secret: None,
        jwt_secret_file: None,
        jwt_public_key_file: None,
        jwt_jwks_file: None,
        jwt_issuer: Some(ISSUER.to_owned()),
        jwt_audience: vec![AUDIENCE.to_owned()],
        jwt_leeway_s: 30,
        jwt_keys_reload_ms: 1000,
    }
}

fn authenticator(flags: &JwtConfig) -> Authenticator {
    Authenticator::new(flags).unwrap().unwrap()
}

/// Claims that verify: this service's issuer and audience, five minutes to live, read and write.
fn claims() -> Value {
    json!({
        "sub": SUBJECT,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 300,
        "scope": "users:read users:write",
    })
}

/// `claims()` with `changes` applied (`null` removes a claim).
fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// Signs tokens with one key and algorithm, naming `kid` if it has one.
struct Signer {
    alg: Algorithm,
    key: EncodingKey,
    kid: Option<String>,
}

impl Signer {
    fn secret(secret: &[u8]) -> Self {
        Self::with(Algorithm::HS256, EncodingKey::from_secret(secret))
    }

    /// The private key in `name` (PKCS#8 PEM) for `alg`.
    fn pem(alg: Algorithm, name: &str) -> Self {
        let pem = read_fixture(name);
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            other => panic!("no fixture for {other:?}"),
        };
        Self::with(alg, key.unwrap())
    }

    fn with(alg: Algorithm, key: EncodingKey) -> Self {
        Signer {
            alg,
            key,
            kid: None,
        }
    }

    fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// The public JWK of this signer's key, with its `kid`.
    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = self.kid.clone();
        jwk
    }
}

/// A JWKS document of these keys.
fn jwks(keys: Vec<Jwk>) -> Vec<u8> {
    serde_json::to_vec(&JwkSet { keys }).unwrap()
}

/// A token with this header and these claims and an empty signature, as no library makes one.
fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |value: &Value| base64url(&serde_json::to_vec(value).unwrap());
    format!("{}.{}.", part(header), part(claims))
}

/// `token` with its payload replaced by `claims`, its header and signature kept.
fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = base64url(&serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// Unpadded base64url (RFC 4648, section 5), as JWTs encode their parts.
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

//! Signed tokens for tests, minted with the test keys in `tests/fixtures/jwt/` (any claims, any
//! key), the flags that make a server trust them, and the forgeries an attacker would try.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://id.test.example";
pub const AUDIENCE: &str = "cqrs-users";
/// The HS256 secret servers started with `Key::Hs256` share.
pub const SECRET: &str = "a test secret, 32 bytes or longer, never used elsewhere";

/// A signing key from the fixtures, with its algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Hs256,
    Rs256,
    /// Another RSA key the server does not trust.
    Rs256Stranger,
    Es256,
    EdDsa,
}

/// A path under `tests/fixtures/jwt/`.
pub fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "jwt", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

impl Key {
    fn algorithm(self) -> Algorithm {
        match self {
            Key::Hs256 => Algorithm::HS256,
            Key::Rs256 | Key::Rs256Stranger => Algorithm::RS256,
            Key::Es256 => Algorithm::ES256,
            Key::EdDsa => Algorithm::EdDSA,
        }
    }

    /// The fixture file's stem (`rsa` for `rsa.pem` and `rsa.pub.pem`).
    fn stem(self) -> &'static str {
        match self {
            Key::Hs256 => "",
            Key::Rs256 => "rsa",
            Key::Rs256Stranger => "rsa2",
            Key::Es256 => "ec",
            Key::EdDsa => "ed25519",
        }
    }

    fn encoding_key(self) -> EncodingKey {
        let pem = || std::fs::read(fixture(&format!("{}.pem", self.stem()))).unwrap();
        match self {
            Key::Hs256 => EncodingKey::from_secret(SECRET.as_bytes()),
            Key::Rs256 | Key::Rs256Stranger => EncodingKey::from_rsa_pem(&pem()).unwrap(),
            Key::Es256 => EncodingKey::from_ec_pem(&pem()).unwrap(),
            Key::EdDsa => EncodingKey::from_ed_pem(&pem()).unwrap(),
        }
    }

    /// The flags of a server that trusts this key (a PEM public key, or the shared secret), with
    /// the test issuer and audience.
    pub fn server_flags(self) -> Vec<String> {
        let key = match self {
            Key::Hs256 => vec!["--jwt-secret".to_owned(), SECRET.to_owned()],
            _ => vec![
                "--jwt-public-key-file".to_owned(),
                fixture(&format!("{}.pub.pem", self.stem())),
            ],
        };
        let trust = ["--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE];
        key.into_iter()
            .chain(trust.iter().map(|s| s.to_string()))
            .collect()
    }

    /// A token signed with this key over `claims`, with `kid` in its header if given.
    pub fn sign(self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.algorithm());
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }

    /// A valid token for `subject` granting `scope` (space-separated), for five minutes.
    pub fn token(self, subject: &str, scope: &str) -> String {
        self.sign(&claims(subject, scope), None)
    }

    /// This key's public half as a JWK with `kid`.
    pub fn jwk(self, kid: &str) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), self.algorithm()).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    }
}

/// A JWKS document of these keys.
pub fn jwks(keys: &[Jwk]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.to_vec(),
    })
    .unwrap()
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for `subject` granting `scope`: the test issuer and audience, valid from a
/// minute ago for five minutes. Tests edit them to make them wrong.
pub fn claims(subject: &str, scope: &str) -> Value {
    json!({
        "sub": subject,
        "scope": scope,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now() - 60,
        "nbf": now() - 60,
        "exp": now() + 300,
    })
}

/// An unsigned token (`alg: none`) over `claims`: what a forger sends first.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// `token` with its payload replaced by `claims`, its signature kept: a tampered token.
pub fn tampered(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next(), parts.next(), parts.next());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", header.unwrap(), signature.unwrap())
}

/// An HS256 token whose "secret" is the server's RSA public key file: algorithm confusion.
pub fn confused(claims: &Value) -> String {
    let public = std::fs::read(fixture("rsa.pub.pem")).unwrap();
    let key = EncodingKey::from_secret(&public);
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

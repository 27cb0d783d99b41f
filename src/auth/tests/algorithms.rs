//! Each key source and algorithm (HS256, RS256, ES256 and EdDSA from PEM, RS256 from a JWKS)
//! accepts good tokens and refuses the same list of bad ones.

use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::*;
use crate::auth::{AuthError, Verified};
use crate::domain::{Identity, Scopes};

/// Runs every case against `auth`, which trusts `signer`; `stranger` signs with another key of
/// the same algorithm (and the same `kid`, if any).
fn accepts_good_tokens_and_refuses_bad_ones(
    auth: &Authenticator,
    signer: &Signer,
    stranger: &Signer,
) {
    let alg = signer.alg;
    let verify = |claims: &serde_json::Value| auth.verify(&signer.sign(claims));
    let scopes = |read, write, write_self| Identity::Token {
        subject: SUBJECT.to_owned(),
        scopes: Scopes {
            read,
            write,
            write_self,
        },
    };

    let good = claims();
    let exp = good["exp"].as_u64().unwrap();
    assert_eq!(
        verify(&good),
        Ok(Verified {
            identity: scopes(true, true, false),
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
        }),
        "{alg:?}: a good token"
    );
    let scp_array = claims_with(json!({"scope": null, "scp": ["users:write:self", "other"]}));
    let verified = verify(&scp_array).unwrap();
    assert_eq!(
        verified.identity,
        scopes(false, false, true),
        "{alg:?}: scp array"
    );
    let scp_string = claims_with(json!({"scope": null, "scp": "users:read users:write:self"}));
    let verified = verify(&scp_string).unwrap();
    assert_eq!(
        verified.identity,
        scopes(true, false, true),
        "{alg:?}: scp string"
    );
    let no_scope = claims_with(json!({"scope": null}));
    assert_eq!(
        verify(&no_scope).unwrap().identity,
        scopes(false, false, false)
    );
    let audiences = claims_with(json!({"aud": ["elsewhere", AUDIENCE]}));
    assert!(verify(&audiences).is_ok(), "{alg:?}: aud as an array");

    let refusals = [
        (json!({"exp": now() - 60}), AuthError::Expired),
        (json!({"nbf": now() + 120}), AuthError::NotYetValid),
        (
            json!({"iss": "https://evil.example"}),
            AuthError::WrongIssuer,
        ),
        (json!({"aud": "another-service"}), AuthError::WrongAudience),
        (json!({"aud": ["a", "b"]}), AuthError::WrongAudience),
        (json!({"exp": null}), AuthError::MissingClaim("exp")),
        (json!({"sub": null}), AuthError::MissingClaim("sub")),
        (json!({"sub": ""}), AuthError::MissingClaim("sub")),
        (json!({"iss": null}), AuthError::MissingClaim("iss")),
        (json!({"aud": null}), AuthError::MissingClaim("aud")),
        (json!({"exp": "tomorrow"}), AuthError::MissingClaim("exp")),
        (json!({"sub": 42}), AuthError::MissingClaim("sub")),
        (
            json!({"sub": "s".repeat(256)}),
            AuthError::InvalidClaim("sub"),
        ),
        (json!({"nbf": "soon"}), AuthError::InvalidClaim("nbf")),
        (
            json!({"scope": ["users:read"]}),
            AuthError::InvalidClaim("scope"),
        ),
        (json!({"scp": [1, 2]}), AuthError::InvalidClaim("scp")),
    ];
    for (changes, refusal) in refusals {
        let claims = claims_with(changes.clone());
        assert_eq!(verify(&claims), Err(refusal), "{alg:?}: {changes}");
    }

    // Within the 30 s leeway, clocks are forgiven.
    assert!(
        verify(&claims_with(json!({"exp": now() - 10}))).is_ok(),
        "{alg:?}"
    );
    assert!(
        verify(&claims_with(json!({"nbf": now() + 10}))).is_ok(),
        "{alg:?}"
    );

    assert_eq!(
        auth.verify(&stranger.sign(&good)),
        Err(AuthError::BadSignature),
        "{alg:?}: another key's signature"
    );
    let more = claims_with(json!({"scope": "users:read users:write users:write:self"}));
    let tampered = with_payload(&signer.sign(&good), &more);
    assert_eq!(
        auth.verify(&tampered),
        Err(AuthError::BadSignature),
        "{alg:?}: tampered"
    );
    let none = unsigned(&json!({"alg": "none", "typ": "JWT"}), &good);
    assert_eq!(
        auth.verify(&none),
        Err(AuthError::DisallowedAlgorithm),
        "{alg:?}: none"
    );
    let no_alg = unsigned(&json!({"typ": "JWT"}), &good);
    assert_eq!(
        auth.verify(&no_alg),
        Err(AuthError::DisallowedAlgorithm),
        "{alg:?}: no alg"
    );
    for garbage in ["", "abc", "a.b.c", "a.b", &"x".repeat(20_000)] {
        assert_eq!(
            auth.verify(garbage),
            Err(AuthError::Malformed),
            "{alg:?}: {garbage:.8}"
        );
    }
}

#[test]
fn hs256_with_a_shared_secret() {
    let mut flags = flags();
    flags.jwt_secret = Some(SECRET.parse().unwrap());
    let auth = authenticator(&flags);
    let stranger = Signer::secret(b"another secret, just as long as the real one");
    accepts_good_tokens_and_refuses_bad_ones(&auth, &Signer::secret(SECRET.as_bytes()), &stranger);
}

#[test]
fn rs256_from_a_pem_public_key() {
    let mut flags = flags();
    flags.jwt_public_key_file = Some(fixture("rsa.pub.pem"));
    let auth = authenticator(&flags);
    let signer = Signer::pem(Algorithm::RS256, "rsa.pem");
    let stranger = Signer::pem(Algorithm::RS256, "rsa2.pem");
    accepts_good_tokens_and_refuses_bad_ones(&auth, &signer, &stranger);
}

#[test]
fn es256_from_a_pem_public_key() {
    let mut flags = flags();
    flags.jwt_public_key_file = Some(fixture("ec.pub.pem"));
    let auth = authenticator(&flags);
    let signer = Signer::pem(Algorithm::ES256, "ec.pem");
    let stranger = Signer::pem(Algorithm::ES256, "ec2.pem");
    accepts_good_tokens_and_refuses_bad_ones(&auth, &signer, &stranger);
}

#[test]
fn eddsa_from_a_pem_public_key() {
    let mut flags = flags();
    flags.jwt_public_key_file = Some(fixture("ed25519.pub.pem"));
    let auth = authenticator(&flags);
    let signer = Signer::pem(Algorithm::EdDSA, "ed25519.pem");
    let stranger = Signer::pem(Algorithm::EdDSA, "ed25519-2.pem");
    accepts_good_tokens_and_refuses_bad_ones(&auth, &signer, &stranger);
}

#[test]
fn rs256_from_a_jwks_file() {
    let signer = Signer::pem(Algorithm::RS256, "rsa.pem").kid("a");
    let stranger = Signer::pem(Algorithm::RS256, "rsa2.pem").kid("a");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), jwks(vec![signer.jwk()])).unwrap();
    let mut flags = flags();
    flags.jwt_jwks_file = Some(file.path().to_owned());
    let auth = authenticator(&flags);
    accepts_good_tokens_and_refuses_bad_ones(&auth, &signer, &stranger);
}

/// Algorithm confusion: a verifier that took its RSA public key for an HMAC secret would accept
/// a token anyone can make, the public key being public.
#[test]
fn an_rsa_public_key_is_never_an_hmac_secret() {
    let public_pem = read_fixture("rsa.pub.pem");
    let forger = Signer::with(Algorithm::HS256, EncodingKey::from_secret(&public_pem));
    let mut flags = flags();
    flags.jwt_public_key_file = Some(fixture("rsa.pub.pem"));
    let auth = authenticator(&flags);
    assert_eq!(
        auth.verify(&forger.sign(&claims())),
        Err(AuthError::DisallowedAlgorithm)
    );

    // In a JWKS, naming the RSA key's kid does not help either.
    let signer = Signer::pem(Algorithm::RS256, "rsa.pem").kid("a");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), jwks(vec![signer.jwk()])).unwrap();
    let mut flags = self::flags();
    flags.jwt_jwks_file = Some(file.path().to_owned());
    let auth = authenticator(&flags);
    let forger = forger.kid("a");
    assert_eq!(
        auth.verify(&forger.sign(&claims())),
        Err(AuthError::DisallowedAlgorithm)
    );
    let forger = Signer::with(Algorithm::HS256, EncodingKey::from_secret(&public_pem));
    assert_eq!(
        auth.verify(&forger.sign(&claims())),
        Err(AuthError::DisallowedAlgorithm)
    );
}

/// Other algorithms of the key's family are refused too: the key verifies one.
#[test]
fn only_the_keys_own_algorithm_is_accepted() {
    let mut flags = flags();
    flags.jwt_public_key_file = Some(fixture("rsa.pub.pem"));
    let auth = authenticator(&flags);
    let ps256 = Signer::with(
        Algorithm::PS256,
        EncodingKey::from_rsa_pem(&read_fixture("rsa.pem")).unwrap(),
    );
    assert_eq!(
        auth.verify(&ps256.sign(&claims())),
        Err(AuthError::DisallowedAlgorithm)
    );
    let mut flags = self::flags();
    flags.jwt_secret = Some(SECRET.parse().unwrap());
    let auth = authenticator(&flags);
    let hs512 = Signer::with(
        Algorithm::HS512,
        EncodingKey::from_secret(SECRET.as_bytes()),
    );
    assert_eq!(
        auth.verify(&hs512.sign(&claims())),
        Err(AuthError::DisallowedAlgorithm)
    );
}

#[test]
fn critical_header_extensions_are_refused() {
    let mut flags = flags();
    flags.jwt_secret = Some(SECRET.parse().unwrap());
    let auth = authenticator(&flags);
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.crit = Some(vec!["b64".to_owned()]);
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert_eq!(auth.verify(&token), Err(AuthError::CriticalHeader));
}

//! Loading keys: what each source refuses at start-up and why, how a JWKS key is chosen for a
//! token, and the start-up description.

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{KeyOperations, PublicKeyUse};
use serde_json::json;

use super::*;
use crate::auth::AuthError;

/// Why `flags` build no authenticator, all causes in one line.
fn refusal(flags: &JwtConfig) -> String {
    match Authenticator::new(flags) {
        Ok(_) => panic!("the flags were accepted"),
        Err(err) => format!("{err:#}"),
    }
}

fn jwks_flags(file: &tempfile::NamedTempFile, contents: &[u8]) -> JwtConfig {
    std::fs::write(file.path(), contents).unwrap();
    let mut flags = flags();
    flags.jwt_jwks_file = Some(file.path().to_owned());
    flags
}

#[test]
fn no_key_source_means_no_authenticator() {
    assert!(Authenticator::new(&flags()).unwrap().is_none());
}

#[test]
fn a_short_secret_is_refused_and_says_how_long() {
    let mut flags = flags();
    flags.jwt_secret = Some(SECRET[1..].parse().unwrap());
    let error = refusal(&flags);
    assert!(
        error.contains("--jwt-secret") && error.contains("at least 32"),
        "{error}"
    );
}

#[test]
fn a_secret_file_loses_its_trailing_newline() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{SECRET}\n")).unwrap();
    let mut flags = flags();
    flags.jwt_secret_file = Some(file.path().to_owned());
    let auth = authenticator(&flags);
    let token = Signer::secret(SECRET.as_bytes()).sign(&claims());
    assert!(auth.verify(&token).is_ok());
    assert!(
        auth.describe()
            .starts_with("JWT HS256 with a shared secret; ")
    );
    assert!(!auth.reload_now().unwrap(), "a secret is read once");

    std::fs::write(file.path(), &SECRET[..31]).unwrap();
    let error = refusal(&flags);
    assert!(
        error.contains("--jwt-secret-file") && error.contains("31 bytes"),
        "{error}"
    );
}

#[test]
fn issuer_and_audience_are_required() {
    let mut flags = flags();
    flags.jwt_secret = Some(SECRET.parse().unwrap());
    flags.jwt_issuer = None;
    assert!(refusal(&flags).contains("--jwt-issuer"));
    let mut flags = self::flags();
    flags.jwt_secret = Some(SECRET.parse().unwrap());
    flags.jwt_audience = vec![String::new()];
    assert!(refusal(&flags).contains("--jwt-audience"));
}

#[test]
fn a_pem_file_must_be_a_readable_public_key() {
    let mut flags = flags();
    flags.jwt_public_key_file = Some(fixture("missing.pub.pem"));
    let error = refusal(&flags);
    assert!(
        error.contains("missing.pub.pem") && error.contains("cannot read"),
        "{error}"
    );
    flags.jwt_public_key_file = Some(fixture("rsa.pem"));
    assert!(refusal(&flags).contains("private key"));
    flags.jwt_public_key_file = Some(fixture("README.md"));
    assert!(refusal(&flags).contains("no RSA, EC (P-256, P-384) or Ed25519 public key"));
}

#[test]
fn a_pem_key_describes_its_algorithm() {
    for (name, alg) in [
        ("rsa.pub.pem", "RS256"),
        ("ec.pub.pem", "ES256"),
        ("ed25519.pub.pem", "EdDSA"),
    ] {
        let mut flags = flags();
        flags.jwt_public_key_file = Some(fixture(name));
        let description = authenticator(&flags).describe();
        assert!(description.starts_with(&format!("JWT {alg} from the PEM file ")));
        assert!(
            description.ends_with(
                "(re-read every 1000 ms); issuer https://id.example; audience cqrs-users; \
                 leeway 30 s"
            ),
            "{description}"
        );
    }
}

#[test]
fn a_jwks_file_must_hold_a_usable_key() {
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(refusal(&jwks_flags(&file, b"{\"keys\": 3}")).contains("not a JWKS document"));
    let secret = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}]});
    let error = refusal(&jwks_flags(&file, secret.to_string().as_bytes()));
    assert!(error.contains("no key here verifies signatures"), "{error}");

    let a = Signer::pem(Algorithm::RS256, "rsa.pem").kid("a");
    let twin = Signer::pem(Algorithm::RS256, "rsa2.pem").kid("a");
    let error = refusal(&jwks_flags(&file, &jwks(vec![a.jwk(), twin.jwk()])));
    assert!(
        error.contains("key 1 (kid a): another key has the same kid"),
        "{error}"
    );

    let mut short = Signer::pem(Algorithm::EdDSA, "ed25519.pem").kid("ed").jwk();
    if let jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) = &mut short.algorithm {
        okp.x = "AAAA".to_owned();
    }
    let error = refusal(&jwks_flags(&file, &jwks(vec![short])));
    assert!(
        error.contains("key 0 (kid ed)") && error.contains("32 bytes"),
        "{error}"
    );
}

#[test]
fn jwks_keys_not_for_signatures_are_left_out() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let signer = Signer::pem(Algorithm::RS256, "rsa.pem").kid("sig");
    let mut encryption = Signer::pem(Algorithm::RS256, "rsa2.pem").kid("enc").jwk();
    encryption.common.public_key_use = Some(PublicKeyUse::Encryption);
    let mut signing_only = Signer::pem(Algorithm::ES256, "ec.pem").kid("ops").jwk();
    signing_only.common.key_operations = Some(vec![KeyOperations::Sign]);
    let keys = vec![signer.jwk(), encryption, signing_only];
    let auth = authenticator(&jwks_flags(&file, &jwks(keys)));
    let description = auth.describe();
    assert!(
        description.contains("with 1 key: RS256 kid sig (2 not for verifying tokens left out)"),
        "{description}"
    );
    assert!(auth.verify(&signer.sign(&claims())).is_ok());
    let enc = Signer::pem(Algorithm::RS256, "rsa2.pem").kid("enc");
    assert_eq!(
        auth.verify(&enc.sign(&claims())),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn a_jwks_key_is_chosen_by_kid_or_else_by_an_unambiguous_algorithm() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let rsa = Signer::pem(Algorithm::RS256, "rsa.pem").kid("rsa");
    let ec = Signer::pem(Algorithm::ES256, "ec.pem").kid("ec");
    let ed = Signer::pem(Algorithm::EdDSA, "ed25519.pem");
    let auth = authenticator(&jwks_flags(
        &file,
        &jwks(vec![rsa.jwk(), ec.jwk(), ed.jwk()]),
    ));
    for signer in [&rsa, &ec, &ed] {
        assert!(
            auth.verify(&signer.sign(&claims())).is_ok(),
            "{:?}",
            signer.alg
        );
    }
    let unknown = Signer::pem(Algorithm::RS256, "rsa.pem").kid("gone");
    assert_eq!(
        auth.verify(&unknown.sign(&claims())),
        Err(AuthError::UnknownKey)
    );
    // No kid: the one ES256 key is the only candidate.
    let ec_without_kid = Signer::pem(Algorithm::ES256, "ec.pem");
    assert!(auth.verify(&ec_without_kid.sign(&claims())).is_ok());
    // A kid naming a key of another algorithm.
    let mislabelled = Signer::pem(Algorithm::ES256, "ec.pem").kid("rsa");
    let refused = auth.verify(&mislabelled.sign(&claims()));
    assert_eq!(refused, Err(AuthError::DisallowedAlgorithm));

    let rsa2 = Signer::pem(Algorithm::RS256, "rsa2.pem").kid("rsa2");
    let auth = authenticator(&jwks_flags(&file, &jwks(vec![rsa.jwk(), rsa2.jwk()])));
    let without_kid = Signer::pem(Algorithm::RS256, "rsa.pem");
    let refused = auth.verify(&without_kid.sign(&claims()));
    assert_eq!(refused, Err(AuthError::NoKeyId));
    let ed = auth.verify(&ed.sign(&claims()));
    assert_eq!(ed, Err(AuthError::DisallowedAlgorithm));
}

#[test]
fn jwks_keys_without_alg_take_their_key_types() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let signers = [
        Signer::pem(Algorithm::RS256, "rsa.pem").kid("rsa"),
        Signer::pem(Algorithm::ES256, "ec.pem").kid("ec"),
        Signer::pem(Algorithm::EdDSA, "ed25519.pem").kid("ed"),
    ];
    let keys = signers
        .iter()
        .map(|signer| {
            let mut jwk = signer.jwk();
            jwk.common.key_algorithm = None;
            jwk
        })
        .collect();
    let auth = authenticator(&jwks_flags(&file, &jwks(keys)));
    assert!(
        auth.describe()
            .contains("with 3 keys: RS256 kid rsa, ES256 kid ec, EdDSA kid ed;")
    );
    for signer in &signers {
        assert!(
            auth.verify(&signer.sign(&claims())).is_ok(),
            "{:?}",
            signer.alg
        );
    }
}

/// The integration tests build JWKS files from the public halves too.
#[test]
fn a_jwk_made_from_a_public_pem_verifies() {
    let public = jsonwebtoken::DecodingKey::from_rsa_pem(&read_fixture("rsa.pub.pem")).unwrap();
    let mut jwk =
        jsonwebtoken::jwk::Jwk::from_decoding_key(&public, Some(Algorithm::RS256)).unwrap();
    jwk.common.key_id = Some("pub".to_owned());
    let file = tempfile::NamedTempFile::new().unwrap();
    let auth = authenticator(&jwks_flags(&file, &jwks(vec![jwk])));
    let signer = Signer::pem(Algorithm::RS256, "rsa.pem").kid("pub");
    assert!(auth.verify(&signer.sign(&claims())).is_ok());
}

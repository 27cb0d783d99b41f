//! Key rotation: a rewritten PEM or JWKS file replaces the keys once it loads; a broken rewrite
//! leaves the keys in use; the reload task picks changes up by itself and stops when told.

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::auth::AuthError;

#[test]
fn a_rewritten_jwks_rotates_the_keys_and_a_broken_one_keeps_them() {
    let a = Signer::pem(Algorithm::RS256, "rsa.pem").kid("a");
    let b = Signer::pem(Algorithm::RS256, "rsa2.pem").kid("b");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), jwks(vec![a.jwk()])).unwrap();
    let mut flags = flags();
    flags.jwt_jwks_file = Some(file.path().to_owned());
    let auth = authenticator(&flags);
    let token_a = a.sign(&claims());
    let token_b = b.sign(&claims());
    assert!(auth.verify(&token_a).is_ok());
    assert_eq!(auth.verify(&token_b), Err(AuthError::UnknownKey));
    assert!(!auth.reload_now().unwrap(), "nothing changed yet");

    std::fs::write(file.path(), jwks(vec![b.jwk()])).unwrap();
    assert!(auth.reload_now().unwrap());
    assert_eq!(auth.verify(&token_a), Err(AuthError::UnknownKey));
    assert!(auth.verify(&token_b).is_ok());
    assert!(auth.describe().contains("with 1 key: RS256 kid b;"));
    let clone = auth.clone();
    assert!(clone.verify(&token_b).is_ok(), "clones share the keys");

    std::fs::write(file.path(), b"{\"keys\": [").unwrap();
    let error = format!("{:#}", auth.reload_now().unwrap_err());
    assert!(error.contains("not a JWKS document"), "{error}");
    assert!(auth.verify(&token_b).is_ok(), "the keys in use stay");
    assert!(
        !auth.reload_now().unwrap(),
        "the same broken file: reported once"
    );

    std::fs::remove_file(file.path()).unwrap();
    assert!(auth.reload_now().is_err());
    assert!(!auth.reload_now().unwrap(), "still missing: reported once");
    assert!(auth.verify(&token_b).is_ok());

    std::fs::write(file.path(), jwks(vec![a.jwk(), b.jwk()])).unwrap();
    assert!(auth.reload_now().unwrap());
    assert!(auth.verify(&token_a).is_ok() && auth.verify(&token_b).is_ok());
}

#[test]
fn a_rewritten_pem_file_rotates_the_key() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), read_fixture("rsa.pub.pem")).unwrap();
    let mut flags = flags();
    flags.jwt_public_key_file = Some(file.path().to_owned());
    let auth = authenticator(&flags);
    let old = Signer::pem(Algorithm::RS256, "rsa.pem").sign(&claims());
    let new = Signer::pem(Algorithm::EdDSA, "ed25519.pem").sign(&claims());
    assert!(auth.verify(&old).is_ok());

    std::fs::write(file.path(), read_fixture("rsa.pem")).unwrap();
    assert!(auth.reload_now().is_err(), "a private key is no public key");
    assert!(auth.verify(&old).is_ok());

    std::fs::write(file.path(), read_fixture("ed25519.pub.pem")).unwrap();
    assert!(auth.reload_now().unwrap());
    assert_eq!(auth.verify(&old), Err(AuthError::DisallowedAlgorithm));
    assert!(auth.verify(&new).is_ok());
}

#[tokio::test]
async fn the_reload_task_picks_up_a_new_file_and_stops_when_told() {
    let a = Signer::pem(Algorithm::ES256, "ec.pem").kid("a");
    let b = Signer::pem(Algorithm::ES256, "ec2.pem").kid("b");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), jwks(vec![a.jwk()])).unwrap();
    let mut flags = flags();
    flags.jwt_jwks_file = Some(file.path().to_owned());
    flags.jwt_keys_reload_ms = 10;
    let auth = authenticator(&flags);
    let stop = CancellationToken::new();
    let task = tokio::spawn(auth.reload_task(stop.clone()));

    std::fs::write(file.path(), jwks(vec![b.jwk()])).unwrap();
    let token_b = b.sign(&claims());
    let deadline = Instant::now() + Duration::from_secs(10);
    while auth.verify(&token_b).is_err() {
        assert!(Instant::now() < deadline, "the new key was not picked up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(auth.verify(&a.sign(&claims())), Err(AuthError::UnknownKey));

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops when told")
        .unwrap();
}

#[tokio::test]
async fn the_reload_task_of_a_secret_ends_at_once() {
    let mut flags = flags();
    flags.jwt_secret = Some(SECRET.parse().unwrap());
    let task = authenticator(&flags).reload_task(CancellationToken::new());
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .unwrap();
}

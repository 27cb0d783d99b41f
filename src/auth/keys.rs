//! The keys tokens are verified with: each key bound to the one algorithm it verifies, loaded from
//! a shared secret, a PEM public key or a JWKS document, and chosen for a token by its header.

use anyhow::{Context, bail, ensure};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, Header, Validation};

use super::AuthError;

/// The shortest HS256 secret: the hash's output size (RFC 7518, section 3.2).
pub(super) const MIN_SECRET_BYTES: usize = 32;

/// RSA moduli accepted, in bits: shorter ones are forgeable in practice, and the `rsa` crate
/// refuses longer ones at verification (which would fail every token instead of start-up).
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// What every token must satisfy besides its signature, the same for every key.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    pub issuer: String,
    pub audience: Vec<String>,
    pub leeway_s: u64,
}

/// A key and the one algorithm it verifies, with the checks for its tokens.
pub(super) struct Key {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub decoding: DecodingKey,
    pub validation: Validation,
}

/// The keys in use.
pub(super) enum Keys {
    /// A secret or a PEM key: it verifies every token, whatever `kid` the token names.
    Single(Box<Key>),
    /// A JWKS document's usable keys, chosen by `kid`, and how many of its keys were left out.
    Set { keys: Vec<Key>, skipped: usize },
}

impl Keys {
    /// An HS256 secret.
    pub fn from_secret(secret: &[u8], policy: &Policy) -> anyhow::Result<Keys> {
        ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "the secret has {} bytes; HS256 needs at least {MIN_SECRET_BYTES} random bytes \
             (`openssl rand -base64 48` makes one)",
            secret.len()
        );
        let key = Key::new(
            None,
            Algorithm::HS256,
            DecodingKey::from_secret(secret),
            policy,
        )?;
        Ok(Keys::Single(Box::new(key)))
    }

    /// A PEM public key (SubjectPublicKeyInfo, or PKCS#1 for RSA): RSA verifies RS256, P-256
    /// ES256, P-384 ES384, Ed25519 EdDSA.
    pub fn from_pem(pem: &[u8], policy: &Policy) -> anyhow::Result<Keys> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("PRIVATE KEY-----") {
            bail!(
                "this is a private key; give its public half \
                 (`openssl pkey -in key.pem -pubout -out key.pub.pem`)"
            );
        }
        if text.contains("BEGIN CERTIFICATE") {
            bail!(
                "this is a certificate; give its public key \
                 (`openssl x509 -in cert.pem -pubkey -noout > key.pub.pem`)"
            );
        }
        let (alg, decoding) = if let Ok(rsa) = DecodingKey::from_rsa_pem(pem) {
            (Algorithm::RS256, rsa_components(&rsa)?)
        } else if let Ok(ec) = DecodingKey::from_ec_pem(pem) {
            let alg = match ec.try_get_as_bytes()?.len() {
                65 => Algorithm::ES256,
                97 => Algorithm::ES384,
                _ => bail!("an EC key must be on P-256 or P-384, as an uncompressed point"),
            };
            (alg, ec)
        } else if let Ok(ed) = DecodingKey::from_ed_pem(pem) {
            (Algorithm::EdDSA, ed)
        } else {
            bail!(
                "no RSA, EC (P-256, P-384) or Ed25519 public key in PEM form \
                 (-----BEGIN PUBLIC KEY-----) here"
            );
        };
        Ok(Keys::Single(Box::new(Key::new(
            None, alg, decoding, policy,
        )?)))
    }

    /// A JWKS document (`{"keys": [...]}`). Keys that are not for verifying signatures (`use`
    /// other than `sig`, `key_ops` without `verify`), symmetric keys, and keys of algorithms
    /// not verified here are left out; a key that is for us but broken fails the whole document.
    pub fn from_jwks(json: &[u8], policy: &Policy) -> anyhow::Result<Keys> {
        let set: JwkSet =
            serde_json::from_slice(json).context("not a JWKS document ({\"keys\": [...]})")?;
        let mut keys: Vec<Key> = Vec::new();
        let mut skipped = 0;
        for (at, jwk) in set.keys.iter().enumerate() {
            let kid = jwk.common.key_id.clone();
            let name = || match &kid {
                Some(kid) => format!("key {at} (kid {kid})"),
                None => format!("key {at} (no kid)"),
            };
            let Some(alg) = verifying_algorithm(jwk) else {
                skipped += 1;
                continue;
            };
            if kid.is_some() && keys.iter().any(|key| key.kid == kid) {
                bail!("{}: another key has the same kid", name());
            }
            let decoding = DecodingKey::from_jwk(jwk)
                .map_err(anyhow::Error::from)
                .and_then(|key| Key::new(kid.clone(), alg, key, policy))
                .with_context(name)?;
            keys.push(decoding);
        }
        ensure!(
            !keys.is_empty(),
            "no key here verifies signatures with RS256/384/512, PS256/384/512, ES256, ES384 or \
             EdDSA ({skipped} keys left out)"
        );
        Ok(Keys::Set { keys, skipped })
    }

    /// The key to verify a token with this header, or why there is none.
    pub fn select(&self, header: &Header) -> Result<&Key, AuthError> {
        let key = match self {
            Keys::Single(key) => key,
            Keys::Set { keys, .. } => match &header.kid {
                Some(kid) => keys
                    .iter()
                    .find(|key| key.kid.as_ref() == Some(kid))
                    .ok_or(AuthError::UnknownKey)?,
                // Without a kid, only an unambiguous key will do: trying each in turn would
                // multiply the work a forged token costs.
                None => {
                    let mut fitting = keys.iter().filter(|key| key.alg == header.alg);
                    match (fitting.next(), fitting.next()) {
                        (Some(key), None) => key,
                        (None, _) => return Err(AuthError::DisallowedAlgorithm),
                        (Some(_), Some(_)) => return Err(AuthError::NoKeyId),
                    }
                }
            },
        };
        // Each key verifies one algorithm: an RSA public key is never an HMAC secret.
        if key.alg != header.alg {
            return Err(AuthError::DisallowedAlgorithm);
        }
        Ok(key)
    }

    /// The keys, for logs: algorithms and kids, never key material.
    pub fn summary(&self) -> String {
        match self {
            Keys::Single(key) => format!("{:?}", key.alg),
            Keys::Set { keys, skipped } => {
                let listed: Vec<String> = keys
                    .iter()
                    .map(|key| match &key.kid {
                        Some(kid) => format!("{:?} kid {kid}", key.alg),
                        None => format!("{:?} without kid", key.alg),
                    })
                    .collect();
                let plural = if keys.len() == 1 { "" } else { "s" };
                let mut summary = format!("{} key{plural}: {}", keys.len(), listed.join(", "));
                if *skipped > 0 {
                    summary.push_str(&format!(" ({skipped} not for verifying tokens left out)"));
                }
                summary
            }
        }
    }
}

impl Key {
    /// `decoding` for `alg`, once it is known to be a usable key of that algorithm.
    fn new(
        kid: Option<String>,
        alg: Algorithm,
        decoding: DecodingKey,
        policy: &Policy,
    ) -> anyhow::Result<Key> {
        check(alg, &decoding)?;
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = policy.leeway_s;
        validation.set_issuer(&[&policy.issuer]);
        validation.set_audience(&policy.audience);
        Ok(Key {
            kid,
            alg,
            decoding,
            validation,
        })
    }
}

/// The algorithm a JWK verifies: its `alg`, or what its key type implies. `None` when the key is
/// not for verifying signatures or its algorithm is not verified here (symmetric keys belong
/// in `--jwt-secret`, not in a file of public keys).
fn verifying_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != PublicKeyUse::Signature)
        || common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let alg = match (common.key_algorithm, &jwk.algorithm) {
        (Some(named), _) => Algorithm::try_from(named).ok()?,
        (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (None, AlgorithmParameters::OctetKeyPair(okp)) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    (alg.family() != AlgorithmFamily::Hmac).then_some(alg)
}

/// An RSA key in modulus-exponent form: parsing the DER here refuses a broken key at loading,
/// and the modulus is at hand to measure.
fn rsa_components(der: &DecodingKey) -> anyhow::Result<DecodingKey> {
    let jwk = Jwk::from_decoding_key(der, None).context("not a readable RSA public key")?;
    Ok(DecodingKey::from_jwk(&jwk)?)
}

/// Refuses a key that cannot verify `alg`, before any token depends on it.
fn check(alg: Algorithm, key: &DecodingKey) -> anyhow::Result<()> {
    ensure!(
        key.family() == alg.family(),
        "the key is not a key for {alg:?}"
    );
    match (key.family(), key.kind()) {
        (AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, .. }) => {
            let significant = n.iter().skip_while(|byte| **byte == 0).collect::<Vec<_>>();
            let bits = significant.first().map_or(0, |top| {
                significant.len() * 8 - top.leading_zeros() as usize
            });
            ensure!(
                RSA_BITS.contains(&bits),
                "the RSA key has {bits} bits; {} to {} are accepted",
                RSA_BITS.start(),
                RSA_BITS.end()
            );
        }
        // `jsonwebtoken` slices the first 32 bytes of an Ed25519 key and would panic on fewer.
        (AlgorithmFamily::Ed, _) => ensure!(
            key.try_get_as_bytes()?.len() == 32,
            "an Ed25519 public key has 32 bytes"
        ),
        (AlgorithmFamily::Ec, _) => {
            let expected = if alg == Algorithm::ES256 { 65 } else { 97 };
            ensure!(
                key.try_get_as_bytes()?.len() == expected,
                "the EC key is not on the curve {alg:?} uses"
            );
        }
        _ => {}
    }
    // Building the verifier parses an EC or Ed25519 key (RSA keys are parsed above); the empty
    // signature then fails to verify, which is the expected answer.
    jsonwebtoken::crypto::verify("", b"", key, alg)
        .with_context(|| format!("not a usable {alg:?} key"))?;
    Ok(())
}

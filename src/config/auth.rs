//! The JWT flags: where the verification key comes from (one source of four), whose tokens to
//! trust (issuer, audience) and how forgiving the clocks may be. Flattened into `ServeConfig`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{ArgGroup, Args};

/// How bearer tokens are verified (README, "Authentication"). No key source: no authentication.
#[derive(Debug, Clone, Args)]
#[command(group(
    ArgGroup::new("jwt_key")
        .multiple(false)
        .requires_all(["jwt_issuer", "jwt_audience"])
))]
pub struct JwtConfig {
    /// Verify HS256 tokens with this shared secret, at least 32 bytes. Prefer JWT_SECRET or
    /// --jwt-secret-file: a flag's value shows in the process list. One key source at most.
    #[arg(
        long,
        env = "JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        group = "jwt_key"
    )]
    pub jwt_secret: Option<Secret>,

    /// Verify HS256 tokens with the shared secret in this file (one trailing newline ignored),
    /// at least 32 bytes; read once at start-up.
    #[arg(long, env = "JWT_SECRET_FILE", value_name = "PATH", group = "jwt_key")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Verify tokens with the public key in this PEM file (`BEGIN PUBLIC KEY`): an RSA key
    /// accepts RS256, a P-256 key ES256, a P-384 key ES384, an Ed25519 key EdDSA. Re-read when
    /// it changes.
    #[arg(
        long,
        env = "JWT_PUBLIC_KEY_FILE",
        value_name = "PATH",
        group = "jwt_key"
    )]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Verify tokens with the keys of this JWKS file (`{"keys": [...]}`), chosen by the token's
    /// `kid`; a token without `kid` needs exactly one key of its algorithm in the set. Re-read
    /// when it changes, so keys rotate without a restart.
    #[arg(long, env = "JWT_JWKS_FILE", value_name = "PATH", group = "jwt_key")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// The issuer a token's `iss` must name. Required with a key source: without it any issuer
    /// the key signs for would be trusted.
    #[arg(long, env = "JWT_ISSUER", value_name = "ISS", requires = "jwt_key")]
    pub jwt_issuer: Option<String>,

    /// An audience a token's `aud` must name (this service's name at the issuer); repeatable or
    /// comma-separated, any one matches. Required with a key source: a token minted for another
    /// service must not work here.
    #[arg(
        long,
        env = "JWT_AUDIENCE",
        value_name = "AUD",
        value_delimiter = ',',
        requires = "jwt_key"
    )]
    pub jwt_audience: Vec<String>,

    /// How far the issuer's clock and this instance's may disagree, in seconds: a token is
    /// accepted this long after its `exp` and before its `nbf`. Default 30: NTP keeps clocks far
    /// closer, and a token outlives its expiry by no more than this. At most 600.
    #[arg(
        long,
        env = "JWT_LEEWAY_S",
        value_name = "SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=600)
    )]
    pub jwt_leeway_s: u64,

    /// How often the PEM or JWKS file is checked for new contents, in milliseconds. Default
    /// 1000: a rotated key is picked up within a second, for one small read a second.
    #[arg(
        long,
        env = "JWT_KEYS_RELOAD_MS",
        value_name = "MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(10..)
    )]
    pub jwt_keys_reload_ms: u64,
}

/// Where the verification key comes from: the one key source flag given.
#[derive(Debug, Clone, Copy)]
pub enum JwtKeySource<'a> {
    /// `--jwt-secret`.
    Secret(&'a Secret),
    /// `--jwt-secret-file`.
    SecretFile(&'a Path),
    /// `--jwt-public-key-file`.
    PublicKeyFile(&'a Path),
    /// `--jwt-jwks-file`.
    JwksFile(&'a Path),
}

/// A shared secret from the command line or the environment; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl JwtConfig {
    /// Whether a key source is given, that is, whether requests are authenticated.
    pub fn is_configured(&self) -> bool {
        self.key_source().is_some()
    }

    /// The key source given, if any (clap lets through one at most).
    pub fn key_source(&self) -> Option<JwtKeySource<'_>> {
        let sources = [
            self.jwt_secret.as_ref().map(JwtKeySource::Secret),
            self.jwt_secret_file
                .as_deref()
                .map(JwtKeySource::SecretFile),
            self.jwt_public_key_file
                .as_deref()
                .map(JwtKeySource::PublicKeyFile),
            self.jwt_jwks_file.as_deref().map(JwtKeySource::JwksFile),
        ];
        sources.into_iter().flatten().next()
    }

    /// The clock-skew leeway for `exp` and `nbf`.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.jwt_leeway_s)
    }

    /// How often a key file is checked for changes.
    pub fn keys_reload(&self) -> Duration {
        Duration::from_millis(self.jwt_keys_reload_ms)
    }
}

impl Secret {
    /// The secret's bytes, to key HMAC with.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        jwt: JwtConfig,
    }

    fn parse(args: &[&str]) -> Result<JwtConfig, clap::Error> {
        let args = std::iter::once("cqrs-users").chain(args.iter().copied());
        Flags::try_parse_from(args).map(|flags| flags.jwt)
    }

    const TRUST: [&str; 4] = [
        "--jwt-issuer",
        "https://id.example",
        "--jwt-audience",
        "users",
    ];

    #[test]
    fn no_key_source_means_no_authentication_and_the_defaults_hold() {
        let jwt = parse(&[]).unwrap();
        assert!(!jwt.is_configured());
        assert_eq!(jwt.leeway(), Duration::from_secs(30));
        assert_eq!(jwt.keys_reload(), Duration::from_millis(1000));
    }

    #[test]
    fn a_key_source_with_issuer_and_audiences_is_configured() {
        let mut args = vec!["--jwt-jwks-file", "/keys.json"];
        args.extend(TRUST);
        args.extend(["--jwt-audience", "a,b"]);
        let jwt = parse(&args).unwrap();
        assert!(jwt.is_configured());
        assert!(matches!(jwt.key_source(), Some(JwtKeySource::JwksFile(_))));
        assert_eq!(jwt.jwt_audience, ["users", "a", "b"]);
    }

    #[test]
    fn a_key_source_needs_both_issuer_and_audience() {
        let error = parse(&["--jwt-secret-file", "/s", "--jwt-issuer", "i"]).unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(error.to_string().contains("--jwt-audience"), "{error}");
        let error = parse(&["--jwt-public-key-file", "/k.pem", "--jwt-audience", "a"]);
        assert!(error.unwrap_err().to_string().contains("--jwt-issuer"));
    }

    #[test]
    fn issuer_or_audience_without_a_key_source_is_refused() {
        let error = parse(&TRUST).unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn at_most_one_key_source() {
        let mut args = vec!["--jwt-secret", "s", "--jwt-jwks-file", "/keys.json"];
        args.extend(TRUST);
        let error = parse(&args).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let mut args = vec!["--jwt-secret", "hunter2-hunter2-hunter2-hunter2-hunter2"];
        args.extend(TRUST);
        let jwt = parse(&args).unwrap();
        assert!(!format!("{jwt:?}").contains("hunter2"));
        assert!(matches!(jwt.key_source(), Some(JwtKeySource::Secret(_))));
    }

    #[test]
    fn leeway_is_bounded() {
        assert!(parse(&["--jwt-leeway-s", "601"]).is_err());
        assert_eq!(
            parse(&["--jwt-leeway-s", "0"]).unwrap().leeway(),
            Duration::ZERO
        );
    }
}

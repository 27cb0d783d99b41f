//! Bearer-token verification: the `Authenticator` checks a JWT's signature against the configured
//! key (a shared secret, a PEM public key or a JWKS file, the files re-read when they change),
//! then its issuer, audience and lifetime, and answers the caller's `Identity`.

use std::fmt;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::config::{JwtConfig, JwtKeySource};
use crate::domain::Identity;

mod claims;
mod error;
mod keys;
#[cfg(test)]
mod tests;

pub use error::AuthError;

use claims::Claims;
use keys::{Keys, Policy};

/// The longest token read: far above any real one, and a bound on the work a forged one costs.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The largest key file read: a PEM key is a few kilobytes, a JWKS document tens.
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// Verifies bearer tokens. Cheap to clone: the clones share the keys, so a reload reaches all.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Always `Identity::Token`: the token's subject and scopes.
    pub identity: Identity,
    /// The token's `exp`.
    pub expires_at: SystemTime,
}

struct Inner {
    keys: RwLock<Arc<Keys>>,
    source: Source,
    policy: Policy,
    reload_every: Duration,
    /// The key file's contents (or read failure) last looked at, loaded or not: a change is
    /// acted on, and warned about, once.
    seen: Mutex<Seen>,
}

enum Source {
    Secret,
    File { path: PathBuf, kind: FileKind },
}

#[derive(Clone, Copy)]
enum FileKind {
    Pem,
    Jwks,
}

#[derive(PartialEq)]
enum Seen {
    Nothing,
    Contents(Vec<u8>),
    Unreadable(std::io::ErrorKind),
}

impl Authenticator {
    /// The authenticator the flags describe: `None` without a key source (no authentication),
    /// or why the key cannot be used (unreadable, malformed, too short, no issuer or audience).
    pub fn new(config: &JwtConfig) -> anyhow::Result<Option<Authenticator>> {
        let Some(source) = config.key_source() else {
            return Ok(None);
        };
        let policy = policy(config)?;
        let (keys, source, seen) = match source {
            JwtKeySource::Secret(secret) => {
                let keys = Keys::from_secret(secret.expose(), &policy).context("--jwt-secret")?;
                (keys, Source::Secret, Seen::Nothing)
            }
            JwtKeySource::SecretFile(path) => {
                let flag = || format!("--jwt-secret-file {}", path.display());
                let contents = read_key_file(path).with_context(flag)?;
                let secret = contents.strip_suffix(b"\n").unwrap_or(&contents);
                let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
                let keys = Keys::from_secret(secret, &policy).with_context(flag)?;
                (keys, Source::Secret, Seen::Nothing)
            }
            JwtKeySource::PublicKeyFile(path) => {
                Self::load_file(path, FileKind::Pem, &policy, "--jwt-public-key-file")?
            }
            JwtKeySource::JwksFile(path) => {
                Self::load_file(path, FileKind::Jwks, &policy, "--jwt-jwks-file")?
            }
        };
        Ok(Some(Authenticator {
            inner: Arc::new(Inner {
                keys: RwLock::new(Arc::new(keys)),
                source,
                policy,
                reload_every: config.keys_reload(),
                seen: Mutex::new(seen),
            }),
        }))
    }

    /// The identity a bearer token (without `Bearer `) proves, or why it proves none.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::from_header(&e))?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let keys = self.keys();
        let key = keys.select(&header)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &key.validation)
            .map_err(|e| AuthError::from_decode(&e))?
            .claims;
        claims.verified()
    }

    /// Re-reads the key file now. `Ok(true)`: new contents were loaded; `Ok(false)`: the
    /// contents are those last looked at, or the key is a secret (read once); `Err`: new
    /// contents cannot be read or used, and the keys in use stay (reported once per change).
    pub fn reload_now(&self) -> anyhow::Result<bool> {
        let Source::File { path, kind } = &self.inner.source else {
            return Ok(false);
        };
        let mut seen = self
            .inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let contents = match read_key_file(path) {
            Ok(contents) => contents,
            Err(err) => {
                let now = Seen::Unreadable(io_kind(&err));
                if *seen == now {
                    return Ok(false);
                }
                *seen = now;
                return Err(err.context(path.display().to_string()));
            }
        };
        if matches!(&*seen, Seen::Contents(last) if *last == contents) {
            return Ok(false);
        }
        let parsed = kind.parse(&contents, &self.inner.policy);
        *seen = Seen::Contents(contents);
        let keys = parsed.with_context(|| path.display().to_string())?;
        let summary = keys.summary();
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        tracing::info!(file = %path.display(), keys = %summary, "JWT keys reloaded");
        Ok(true)
    }

    /// The task that re-reads a PEM or JWKS key file every `--jwt-keys-reload-ms` until `stop`
    /// is cancelled, for the caller to spawn. It ends at once for a secret, which is read once.
    /// New keys replace the old ones only once they load; until then the old ones serve.
    pub fn reload_task(
        &self,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let this = self.clone();
        async move {
            if matches!(this.inner.source, Source::Secret) {
                return;
            }
            let mut ticks = tokio::time::interval(this.inner.reload_every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate, and the keys were just loaded.
            ticks.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let reloading = this.clone();
                match tokio::task::spawn_blocking(move || reloading.reload_now()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => tracing::warn!(
                        error = %format!("{err:#}"),
                        "the JWT key file changed but cannot be used; the keys in use stay"
                    ),
                    Err(err) => tracing::warn!(error = %err, "re-reading the JWT key file failed"),
                }
            }
        }
    }

    /// One line for the start-up log: algorithms, key source, issuer, audience, leeway.
    pub fn describe(&self) -> String {
        let keys = self.keys().summary();
        let from = match &self.inner.source {
            Source::Secret => format!("JWT {keys} with a shared secret"),
            Source::File { path, kind } => {
                let every = self.inner.reload_every.as_millis();
                let file = format!("file {} (re-read every {every} ms)", path.display());
                match kind {
                    FileKind::Pem => format!("JWT {keys} from the PEM {file}"),
                    FileKind::Jwks => format!("JWT from the JWKS {file} with {keys}"),
                }
            }
        };
        let policy = &self.inner.policy;
        format!(
            "{from}; issuer {}; audience {}; leeway {} s",
            policy.issuer,
            policy.audience.join(", "),
            policy.leeway_s
        )
    }

    fn keys(&self) -> Arc<Keys> {
        let keys = self
            .inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&keys)
    }

    fn load_file(
        path: &Path,
        kind: FileKind,
        policy: &Policy,
        flag: &str,
    ) -> anyhow::Result<(Keys, Source, Seen)> {
        let context = || format!("{flag} {}", path.display());
        let contents = read_key_file(path).with_context(context)?;
        let keys = kind.parse(&contents, policy).with_context(context)?;
        let source = Source::File {
            path: path.to_owned(),
            kind,
        };
        Ok((keys, source, Seen::Contents(contents)))
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Authenticator")
            .field(&self.describe())
            .finish()
    }
}

impl FileKind {
    fn parse(self, contents: &[u8], policy: &Policy) -> anyhow::Result<Keys> {
        match self {
            FileKind::Pem => Keys::from_pem(contents, policy),
            FileKind::Jwks => Keys::from_jwks(contents, policy),
        }
    }
}

/// The issuer, audiences and leeway every token must satisfy.
fn policy(config: &JwtConfig) -> anyhow::Result<Policy> {
    let issuer = config.jwt_issuer.clone().unwrap_or_default();
    if issuer.is_empty() {
        bail!("--jwt-issuer (JWT_ISSUER) is required with a JWT key: the `iss` tokens must name");
    }
    let audience: Vec<String> = config
        .jwt_audience
        .iter()
        .filter(|aud| !aud.is_empty())
        .cloned()
        .collect();
    if audience.is_empty() {
        bail!(
            "--jwt-audience (JWT_AUDIENCE) is required with a JWT key: this service's name in \
             the `aud` of tokens meant for it"
        );
    }
    Ok(Policy {
        issuer,
        audience,
        leeway_s: config.leeway().as_secs(),
    })
}

/// A key file's contents, at most `MAX_KEY_FILE_BYTES`.
fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut contents = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut contents))
        .context("cannot read it")?;
    if contents.len() as u64 > MAX_KEY_FILE_BYTES {
        bail!("it is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file");
    }
    Ok(contents)
}

fn io_kind(err: &anyhow::Error) -> std::io::ErrorKind {
    err.downcast_ref::<std::io::Error>()
        .map_or(std::io::ErrorKind::Other, std::io::Error::kind)
}

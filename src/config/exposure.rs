//! Who may reach an instance and what it shows them: development mode (no authentication, on
//! loopback only unless `--insecure-no-auth`), CORS, and the production switches.

use std::net::SocketAddr;

use clap::Args;

use super::ListenAddr;

/// How the service is exposed to browsers and networks (README, "Browsers and exposure").
#[derive(Debug, Clone, Args)]
pub struct Exposure {
    /// Serve without authentication on an address other than loopback. Without `--jwt-*`
    /// settings and without this flag the server only listens on loopback (and checks `Host`
    /// against DNS rebinding); with it, anyone who reaches the port may read and write.
    #[arg(long, env = "INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,

    /// An origin browsers may call from (`https://app.example`); repeatable. None by default:
    /// no cross-origin browser call is allowed.
    #[arg(long = "cors-origin", env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Let browsers send credentials (cookies, HTTP auth) on cross-origin calls from the
    /// `--cors-origin` list.
    #[arg(long, env = "CORS_ALLOW_CREDENTIALS")]
    pub cors_allow_credentials: bool,

    /// Refuse introspection (`__schema`, `__type`).
    #[arg(long, env = "DISABLE_INTROSPECTION")]
    pub disable_introspection: bool,

    /// Leave "Did you mean ...?" suggestions out of validation errors.
    #[arg(long, env = "DISABLE_SUGGESTIONS")]
    pub disable_suggestions: bool,

    /// Serve no playground: `/` is a 404.
    #[arg(long, env = "DISABLE_PLAYGROUND")]
    pub disable_playground: bool,
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authentication (development mode): everyone may do everything. `insecure`: served on
    /// a non-loopback address by `--insecure-no-auth`; otherwise on loopback only, with the
    /// `Host` check against DNS rebinding.
    None { insecure: bool },
    /// Bearer JWTs, verified as the `--jwt-*` settings say; on any address.
    Jwt,
}

impl Exposure {
    /// The authentication serving on `listen`, resolved to the addresses `resolved`, means
    /// (`jwt`: the `--jwt-*` settings name a key), or why it may not serve there. Loopback means
    /// every address the name resolved to: the server binds to one of them.
    pub fn auth(
        &self,
        listen: &ListenAddr,
        resolved: &[SocketAddr],
        jwt: bool,
    ) -> anyhow::Result<Auth> {
        if jwt {
            return Ok(Auth::Jwt);
        }
        if !resolved.is_empty() && resolved.iter().all(|addr| addr.ip().is_loopback()) {
            return Ok(Auth::None { insecure: false });
        }
        if self.insecure_no_auth {
            return Ok(Auth::None { insecure: true });
        }
        let ips: Vec<String> = resolved.iter().map(|addr| addr.ip().to_string()).collect();
        anyhow::bail!(
            "refusing to listen on {listen} ({}) without authentication: configure a JWT key \
             (--jwt-secret, --jwt-public-key-file or --jwt-jwks-file, with --jwt-issuer and \
             --jwt-audience), listen on loopback (127.0.0.1, [::1], localhost), or pass --insecure-no-auth \
             (INSECURE_NO_AUTH=true) to let anyone who reaches this address read and write",
            ips.join(", ")
        )
    }
}

impl Auth {
    /// Whether requests must name a loopback `Host` (DNS rebinding: a page on a name the attacker
    /// controls, resolved to 127.0.0.1, is same-origin with this server for the browser).
    pub fn checks_host(self) -> bool {
        matches!(self, Auth::None { insecure: false })
    }
}

/// Whether a `Host` header value names loopback: `localhost`, `*.localhost`, `127.0.0.1` or
/// `[::1]`, with any port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        host.split_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name == "127.0.0.1" || name == "::1"
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Auth, is_loopback_host};
    use crate::config::Cli;

    /// Development mode needs every address `--listen` names to be loopback: a name that also
    /// resolves elsewhere would serve that address unauthenticated.
    #[test]
    fn a_name_is_loopback_only_if_all_its_addresses_are() {
        let exposure = Cli::parse_from(["cqrs-users"]).serve.exposure;
        let listen = "localhost:8000".parse().unwrap();
        let at = |ips: &[&str]| -> Vec<std::net::SocketAddr> {
            ips.iter()
                .map(|ip| format!("{ip}:8000").parse().unwrap())
                .collect()
        };
        let loopback = exposure.auth(&listen, &at(&["127.0.0.1", "[::1]"]), false);
        assert_eq!(loopback.unwrap(), Auth::None { insecure: false });
        let mixed = exposure.auth(&listen, &at(&["127.0.0.1", "10.0.0.7"]), false);
        let refused = mixed.unwrap_err().to_string();
        assert!(
            refused.contains("10.0.0.7") && refused.contains("--insecure-no-auth"),
            "{refused}"
        );
        assert!(exposure.auth(&listen, &[], false).is_err());
        assert_eq!(
            exposure.auth(&listen, &at(&["10.0.0.7"]), true).unwrap(),
            Auth::Jwt
        );
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:8000",
            "a.localhost:1",
            "127.0.0.1:80",
            "[::1]:8000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "[::2]",
            "10.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}

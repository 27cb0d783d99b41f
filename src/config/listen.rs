//! `--listen`: the host (a name or an IP) and port to serve on. Names are resolved at start-up,
//! not here: this module does no I/O.

use std::fmt;
use std::str::FromStr;

/// `HOST:PORT`, as given: `127.0.0.1:8000`, `[::1]:8000`, `localhost:8000`, `0.0.0.0:0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// A name or an IP address, IPv6 without its brackets.
    host: String,
    port: u16,
}

impl ListenAddr {
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let shape = || {
            format!("`{raw}` is not HOST:PORT (`127.0.0.1:8000`, `localhost:8000`, `[::1]:8000`)")
        };
        let (host, port) = raw.rsplit_once(':').ok_or_else(shape)?;
        let host = match host.strip_prefix('[') {
            Some(rest) => rest.strip_suffix(']').ok_or_else(shape)?,
            // An IPv6 address without brackets: its last group would pass for a port.
            None if host.contains(':') => return Err(shape()),
            None => host,
        };
        let port = port.parse().map_err(|_| shape())?;
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(shape());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ListenAddr;

    #[test]
    fn takes_names_and_addresses() {
        for (raw, host, port) in [
            ("127.0.0.1:8000", "127.0.0.1", 8000),
            ("localhost:8000", "localhost", 8000),
            ("[::1]:0", "::1", 0),
            ("0.0.0.0:80", "0.0.0.0", 80),
        ] {
            let addr: ListenAddr = raw.parse().unwrap();
            assert_eq!((addr.host(), addr.port()), (host, port), "{raw}");
            assert_eq!(addr.to_string(), raw);
        }
        for bad in [
            "localhost",
            ":8000",
            "::1:8000",
            "[::1:8000",
            "host:http",
            "a b:1",
            "h:70000",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }
}

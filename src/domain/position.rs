//! `LogPosition`: a place in the event log's global order, and its opaque string form.

use std::fmt;

use crate::domain::InvalidInput;

/// A position in the event log. The log's order is `(tx_id, seq)`: the appending transaction's id
/// (PostgreSQL; 0 on SQLite) then the event's sequence number. `LogPosition::START` is before every
/// event. Clients see it as a 32-character opaque string (consistency tokens, event positions)
/// whose lexicographic order is the log order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LogPosition {
    pub tx_id: i64,
    pub seq: i64,
}

impl LogPosition {
    pub const START: LogPosition = LogPosition { tx_id: 0, seq: 0 };

    pub fn new(tx_id: i64, seq: i64) -> Self {
        Self { tx_id, seq }
    }

    /// Parses the string form a client sent back (`field` names the argument, for the error).
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, InvalidInput> {
        let invalid = || InvalidInput::new(field, "is not a token this service issued");
        let raw = raw.trim();
        if raw.len() != 32 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let (tx_id, seq) = raw.split_at(16);
        let part = |s: &str| {
            u64::from_str_radix(s, 16)
                .ok()
                .and_then(|v| i64::try_from(v).ok())
        };
        match (part(tx_id), part(seq)) {
            (Some(tx_id), Some(seq)) => Ok(Self { tx_id, seq }),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.tx_id, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders_like_the_log() {
        let a = LogPosition::new(7, 300);
        let b = LogPosition::new(8, 2);
        assert_eq!(LogPosition::parse(&a.to_string(), "t"), Ok(a));
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn refuses_foreign_tokens() {
        for bad in [
            "",
            "abc",
            "zz00000000000000000000000000000000",
            &"f".repeat(32),
        ] {
            assert!(
                LogPosition::parse(bad, "consistencyToken").is_err(),
                "{bad:?}"
            );
        }
    }
}

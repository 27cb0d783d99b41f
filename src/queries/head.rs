//! `LogHead`: whether a consistency token names a write at all. A position past the log's head
//! was issued by no write (whatever instance made it), so waiting for the projector to reach it
//! could only time out and then claim the write committed.

use std::sync::Mutex;

use sea_orm::{DatabaseConnection, DbErr};

use crate::domain::LogPosition;
use crate::events;

/// The head of the log as last read, and the log pool to read it again. Only the bus asks it,
/// before waiting on a token the read model has not reached; no handler reads the log.
pub(super) struct LogHead {
    log: DatabaseConnection,
    /// The highest head read so far: the log never shrinks while this process runs.
    known: Mutex<LogPosition>,
    /// One look at the log at a time: readers arriving meanwhile find the head it read.
    looking: tokio::sync::Mutex<()>,
}

impl LogHead {
    pub(super) fn new(log: DatabaseConnection) -> Self {
        Self {
            log,
            known: Mutex::new(LogPosition::START),
            looking: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the log holds `token`'s position, reading the log only when `token` is past the
    /// head read last. A write's token is in the log before its client gets it, whichever
    /// instance committed it, so `false` means no write issued the token.
    pub(super) async fn holds(&self, token: LogPosition) -> Result<bool, DbErr> {
        if token <= self.known() {
            return Ok(true);
        }
        let _turn = self.looking.lock().await;
        if token <= self.known() {
            return Ok(true);
        }
        let head = events::head(&self.log).await?;
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *known = (*known).max(head);
        Ok(token <= *known)
    }

    fn known(&self) -> LogPosition {
        *self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

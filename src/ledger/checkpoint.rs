//! The checkpoint thread: copies the WAL back into the database file every
//! [`CHECKPOINT_EVERY`] (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the writer), so the
//! writer's commits never pay for a checkpoint and its fsyncs. It stops when its channel closes.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The thread's body.
pub(super) fn run(conn: Connection, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "payment ledger checkpoint failed");
        }
    }
}

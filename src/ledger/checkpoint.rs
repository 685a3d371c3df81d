//! The checkpoint thread: copies the WAL back into the database file every
//! [`CHECKPOINT_EVERY`] (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the writer), so the
//! writer's commits never pay for a checkpoint and its fsyncs. It stops when its channel closes.
//!
//! Under sustained writes a passive checkpoint never catches up: frames keep arriving while it
//! copies, so the WAL is never started over and grows without bound (measured: 520 MB after 7 s
//! of 2,500 payments/s, the database itself 27 MB), every new frame landing on a fresh page the
//! kernel must zero. So while the WAL holds more than [`RESTART_FRAMES`], each round is a
//! `RESTART` checkpoint instead: it holds the writer back for the few frames the passive rounds
//! left (milliseconds), and the next commit starts the WAL over from its beginning, in pages
//! already in memory. `journal_size_limit` then trims the file.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// WAL frames (pages) past which a checkpoint also starts the WAL over: 16 MiB of 4 KiB pages.
pub const RESTART_FRAMES: i64 = 4096;

/// The thread's body.
pub(super) fn run(conn: Connection, stop: Receiver<()>) {
    let mut frames = 0;
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let mode = mode_after(frames);
        // (busy, frames in the WAL, frames copied back)
        let round = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        });
        match round {
            Ok(f) => frames = f,
            Err(error) => tracing::warn!(%error, "payment ledger checkpoint failed"),
        }
    }
}

/// The next round's mode, given how many frames the WAL held at the last one.
fn mode_after(frames: i64) -> &'static str {
    if frames > RESTART_FRAMES {
        "RESTART"
    } else {
        "PASSIVE"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wal_past_the_threshold_is_started_over() {
        assert_eq!(mode_after(0), "PASSIVE");
        assert_eq!(mode_after(RESTART_FRAMES), "PASSIVE");
        assert_eq!(mode_after(RESTART_FRAMES + 1), "RESTART");
    }
}

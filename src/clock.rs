//! The gateway's one source of wall-clock time.
//!
//! Every check that depends on time (payment windows, replay expiry, reload stamps) takes `now` as an
//! argument; only [`SystemClock`] reads the system clock, so tests can pin both edges of a window.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub type UnixSecs = u64;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current Unix time in whole seconds.
    fn now_secs(&self) -> UnixSecs;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one allowed read of the system clock
    fn now_secs(&self) -> UnixSecs {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock frozen at a given second, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub UnixSecs);

impl Clock for FixedClock {
    fn now_secs(&self) -> UnixSecs {
        self.0
    }
}

/// Unix milliseconds now, for records (the ledger's timestamps), never for payment windows.
#[allow(clippy::disallowed_methods)]
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

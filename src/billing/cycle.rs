//! When a tab's batches close: a cutoff at a fixed offset into every cycle (UTC; daily at 00:00
//! by default), and the id of one account's batch at one cutoff, derived from both, so running a
//! cutoff again finds the batch it made before instead of making another.

use crate::rfc3339::format_rfc3339_secs;

/// The shortest cycle: a cutoff more often than this would be a batch per few requests.
pub const MIN_EVERY_SECS: u64 = 60;

/// The latest cutoff at or before `now_secs` of a cycle of `every_secs` starting `offset_secs`
/// into each one (Unix seconds); 0 before the first.
pub fn last_cutoff(now_secs: u64, every_secs: u64, offset_secs: u64) -> u64 {
    let every = every_secs.max(MIN_EVERY_SECS);
    let offset = offset_secs % every;
    if now_secs < offset {
        return 0;
    }
    offset + (now_secs - offset) / every * every
}

/// `tab-20261202T000000Z-<16 hex>`: the cutoff's time, then the first 8 bytes of
/// SHA-256(account, NUL, cutoff in ms). Safe in a URL path and a file name.
pub fn batch_id(account: &str, cutoff_ms: u64) -> String {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(account.as_bytes());
    digest.update(&[0]);
    digest.update(&cutoff_ms.to_be_bytes());
    let hash = digest.finish();
    let stamp: String = format_rfc3339_secs(cutoff_ms)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!(
        "tab-{stamp}-{}",
        alloy_primitives::hex::encode(&hash.as_ref()[..8])
    )
}

/// Whether `id` has the shape of [`batch_id`]'s ids (checked before any lookup).
pub fn is_batch_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with("tab-")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn the_last_cutoff_is_at_the_offset_of_the_current_cycle() {
        let midnight = 1_796_169_600; // 2026-12-02T00:00:00Z
        assert_eq!(last_cutoff(midnight, DAY, 0), midnight);
        assert_eq!(last_cutoff(midnight + DAY - 1, DAY, 0), midnight);
        assert_eq!(last_cutoff(midnight + DAY, DAY, 0), midnight + DAY);
        // 06:30 UTC cutoffs: before 06:30 the last one was yesterday's.
        let offset = 6 * 3600 + 1800;
        assert_eq!(
            last_cutoff(midnight + 3600, DAY, offset),
            midnight - DAY + offset
        );
        assert_eq!(
            last_cutoff(midnight + offset, DAY, offset),
            midnight + offset
        );
        assert_eq!(last_cutoff(10, DAY, offset), 0);
        assert_eq!(
            last_cutoff(midnight + 125, 1, 0),
            midnight + 120,
            "at least a minute"
        );
    }

    #[test]
    fn a_batch_id_is_one_per_account_and_cutoff() {
        let a = batch_id("acme", 1_796_169_600_000);
        assert!(a.starts_with("tab-20261202T000000Z-"), "{a}");
        assert!(is_batch_id(&a));
        assert_eq!(a, batch_id("acme", 1_796_169_600_000));
        assert_ne!(a, batch_id("acme", 1_796_256_000_000));
        assert_ne!(a, batch_id("acme2", 1_796_169_600_000));
        assert!(!is_batch_id("tab-../../etc"));
        assert!(!is_batch_id("other"));
    }
}

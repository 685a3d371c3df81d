//! Hashing for the route index: `rustc-hash`'s Fx hasher (fast for the short keys the index
//! holds; keys are operator-chosen literals and hosts, so hash flooding by clients is not a
//! concern: clients only look up), and the ASCII-case-insensitive host hash that lets a request
//! host be looked up without lowercasing it into a buffer.

use std::hash::Hasher;

/// The index's hasher.
pub(super) type FxBuild = rustc_hash::FxBuildHasher;

/// ASCII-case-insensitive hash: Fx over 8-byte words with bit 5 of every byte set (which lowercases
/// ASCII letters and merges a few punctuation pairs; the name comparison after lookup sorts those
/// out).
pub(super) fn host_hash(name: &str) -> u64 {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let mut h = rustc_hash::FxHasher::default();
    let mut chunks = name.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h.write_u64(u64::from_le_bytes(word) | CASE);
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    h.write_u64((u64::from_le_bytes(word) | CASE) ^ rest.len() as u64);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::host_hash;

    #[test]
    fn host_hash_ignores_ascii_case() {
        assert_eq!(host_hash("API.Example.COM"), host_hash("api.example.com"));
        assert_ne!(host_hash("a.example.com"), host_hash("b.example.com"));
    }
}

//! A small FxHash-style hasher for the route index (host and literal lookups), and the
//! ASCII-case-insensitive host hash that lets a request host be looked up without lowercasing it.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style hasher: fast for short keys. Keys are operator-chosen route
/// literals, so hash flooding by clients is not a concern (they only look up).
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

pub(super) type FxBuild = BuildHasherDefault<FxHasher>;

/// ASCII-case-insensitive hash: Fx over 8-byte words with bit 5 of every byte set
/// (which lowercases ASCII letters and merges a few punctuation pairs; the name
/// comparison after lookup sorts those out).
pub(super) fn host_hash(name: &str) -> u64 {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let mut h = FxHasher::default();
    let mut chunks = name.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h.add(u64::from_le_bytes(word) | CASE);
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    h.add((u64::from_le_bytes(word) | CASE) ^ rest.len() as u64);
    h.finish()
}

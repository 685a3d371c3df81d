//! Per-client counts of work in flight (facilitator verifications), so one client cannot make the
//! gateway spend the operator's facilitator quota without bound. In memory: in-flight work is a
//! property of this process, not shared state.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;

/// Counts in-flight work per key; a permit is given back when dropped.
#[derive(Debug)]
pub struct InFlight<K: Eq + Hash + Clone> {
    counts: Arc<DashMap<K, usize>>,
}

impl<K: Eq + Hash + Clone> Default for InFlight<K> {
    fn default() -> Self {
        Self {
            counts: Arc::new(DashMap::new()),
        }
    }
}

/// One unit of in-flight work; dropping it gives the slot back.
#[derive(Debug)]
pub struct Permit<K: Eq + Hash + Clone> {
    counts: Arc<DashMap<K, usize>>,
    key: K,
}

impl<K: Eq + Hash + Clone> InFlight<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A permit for `key` if it has fewer than `max` in flight.
    pub fn try_acquire(&self, key: &K, max: usize) -> Option<Permit<K>> {
        let mut count = self.counts.entry(key.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Permit {
            counts: self.counts.clone(),
            key: key.clone(),
        })
    }

    /// Keys with work in flight.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

impl<K: Eq + Hash + Clone> Drop for Permit<K> {
    fn drop(&mut self) {
        // The last permit of a key removes it, so idle clients take no memory.
        self.counts.remove_if_mut(&self.key, |_, count| {
            *count -= 1;
            *count == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_per_key_and_released_on_drop() {
        let limiter = InFlight::new();
        let a = limiter.try_acquire(&1, 2).unwrap();
        let b = limiter.try_acquire(&1, 2).unwrap();
        assert!(limiter.try_acquire(&1, 2).is_none());
        assert!(
            limiter.try_acquire(&2, 2).is_some(),
            "other keys unaffected"
        );
        drop(a);
        let c = limiter.try_acquire(&1, 2).unwrap();
        drop((b, c));
        assert!(limiter.is_empty());
    }
}

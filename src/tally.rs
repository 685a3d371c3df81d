//! Per-key running sums under a cap, and holds that give their amount back when dropped: what
//! a payer has reserved against their balance (`evm/chain.rs`) and what they owe unsettled
//! (`settlement/owed.rs`). Adding is atomic per key, so two concurrent holds can never together
//! pass the cap.

use std::hash::Hash;
use std::sync::Arc;

use alloy_primitives::U256;
use dashmap::DashMap;

/// Sums per key.
#[derive(Debug)]
pub struct Tally<K: Hash + Eq> {
    sums: Arc<DashMap<K, U256>>,
}

impl<K: Hash + Eq> Default for Tally<K> {
    fn default() -> Self {
        Self {
            sums: Arc::new(DashMap::new()),
        }
    }
}

/// `value` counted under `key` until dropped.
#[derive(Debug)]
pub struct Held<K: Hash + Eq> {
    sums: Arc<DashMap<K, U256>>,
    key: K,
    value: U256,
}

impl<K: Hash + Eq> Drop for Held<K> {
    fn drop(&mut self) {
        self.sums.remove_if_mut(&self.key, |_, sum| {
            *sum = sum.saturating_sub(self.value);
            sum.is_zero()
        });
    }
}

impl<K: Hash + Eq + Clone> Tally<K> {
    /// Counts `value` under `key` if the sum stays within `cap`.
    pub fn try_hold(&self, key: K, value: U256, cap: U256) -> Option<Held<K>> {
        let mut sum = self.sums.entry(key.clone()).or_insert(U256::ZERO);
        if sum.saturating_add(value) > cap {
            let empty = sum.is_zero();
            drop(sum);
            if empty {
                self.sums.remove_if(&key, |_, s| s.is_zero());
            }
            return None;
        }
        *sum += value;
        drop(sum);
        Some(self.held(key, value))
    }

    /// Counts `value` under `key` whatever the cap.
    pub fn hold(&self, key: K, value: U256) -> Held<K> {
        *self.sums.entry(key.clone()).or_insert(U256::ZERO) += value;
        self.held(key, value)
    }

    fn held(&self, key: K, value: U256) -> Held<K> {
        Held {
            sums: self.sums.clone(),
            key,
            value,
        }
    }

    /// Every key's sum together.
    pub fn total(&self) -> U256 {
        self.sums
            .iter()
            .fold(U256::ZERO, |sum, e| sum.saturating_add(*e.value()))
    }

    /// Keys with something held.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }
}

impl<K: Hash + Eq> Held<K> {
    pub fn key(&self) -> &K {
        &self.key
    }

    pub fn value(&self) -> U256 {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_stay_under_the_cap_and_end_when_dropped() {
        let t = Tally::default();
        let cap = U256::from(2500);
        let a = t.try_hold(1u8, U256::from(1000), cap).expect("fits");
        let _b = t.try_hold(1u8, U256::from(1000), cap).expect("fits");
        assert!(t.try_hold(1u8, U256::from(1000), cap).is_none());
        assert!(t.try_hold(2u8, U256::from(1000), cap).is_some(), "per key");
        drop(a);
        assert!(t.try_hold(1u8, U256::from(1000), cap).is_some());
        assert_eq!(t.len(), 1, "a refused hold on an empty key leaves nothing");
    }
}

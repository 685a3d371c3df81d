//! The in-process replay guard: a sharded concurrent map from a payment's 16-byte digest to its
//! expiry (25 bytes a slot instead of 89 with the whole key: 1,000,000 live claims fit the design's
//! 150 MB; see `benches/replay_memory.rs`).

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{PaymentKey, ReplayGuard, StoreError};
use crate::clock::UnixSecs;

/// Claims live in a `DashMap`; the entry API makes claim-if-absent atomic per shard.
#[derive(Debug, Default)]
pub struct MemoryReplayGuard {
    claims: DashMap<[u8; 16], UnixSecs>,
}

impl MemoryReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn claim(
        &self,
        key: &PaymentKey,
        expires_at: UnixSecs,
        now: UnixSecs,
    ) -> Result<bool, StoreError> {
        Ok(match self.claims.entry(key.digest()) {
            Entry::Occupied(mut held) => {
                if *held.get() >= now {
                    false
                } else {
                    held.insert(expires_at);
                    true
                }
            }
            Entry::Vacant(free) => {
                free.insert(expires_at);
                true
            }
        })
    }

    async fn seed(&self, digest: [u8; 16], expires_at: UnixSecs) -> Result<(), StoreError> {
        self.claims
            .entry(digest)
            .and_modify(|e| *e = (*e).max(expires_at))
            .or_insert(expires_at);
        Ok(())
    }

    async fn release(&self, key: &PaymentKey) -> Result<(), StoreError> {
        self.claims.remove(&key.digest());
        Ok(())
    }

    async fn sweep(&self, now: UnixSecs) -> usize {
        let before = self.claims.len();
        self.claims.retain(|_, expires| *expires >= now);
        before - self.claims.len()
    }

    fn len(&self) -> usize {
        self.claims.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use alloy_primitives::{Address, B256};

    use super::*;

    fn key(n: u8) -> PaymentKey {
        PaymentKey {
            chain_id: 84532,
            asset: Address::repeat_byte(1),
            payer: Address::repeat_byte(2),
            nonce: B256::repeat_byte(n),
        }
    }

    #[tokio::test]
    async fn one_of_many_concurrent_claims_wins() {
        let guard = Arc::new(MemoryReplayGuard::new());
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let g = guard.clone();
                tokio::spawn(async move { g.claim(&key(1), 200, 100).await.unwrap() })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test]
    async fn release_and_expiry_free_the_key() {
        let g = MemoryReplayGuard::new();
        assert!(g.claim(&key(1), 200, 100).await.unwrap());
        assert!(!g.claim(&key(1), 200, 150).await.unwrap());
        g.release(&key(1)).await.unwrap();
        assert!(g.claim(&key(1), 200, 150).await.unwrap());
        // held until expiry, free after it
        assert!(!g.claim(&key(1), 300, 200).await.unwrap());
        assert!(g.claim(&key(1), 300, 201).await.unwrap());
        assert!(g.claim(&key(2), 250, 100).await.unwrap());
        assert_eq!(g.sweep(260).await, 1);
        assert_eq!(g.len(), 1);
    }
}

//! State that outlives a request, behind traits chosen at startup: the single-use payment guard now;
//! the settlement outbox and deferred tabs later. In-memory first; Redis/PostgreSQL join behind the
//! same traits when several nodes share state.

mod memory;

use alloy_primitives::{Address, B256};
use async_trait::async_trait;

pub use memory::MemoryReplayGuard;

use crate::clock::UnixSecs;

/// What makes an `exact` payment unique on chain: EIP-3009 nonces are per (token, payer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentKey {
    pub chain_id: u64,
    pub asset: Address,
    pub payer: Address,
    pub nonce: B256,
}

/// A store failure (a remote store may be unreachable; the memory store never fails).
#[derive(Debug, Clone, thiserror::Error)]
#[error("payment store unavailable: {0}")]
pub struct StoreError(pub String);

/// Single use of a payment, from the moment it arrives until its authorization expires.
#[async_trait]
pub trait ReplayGuard: Send + Sync {
    /// Atomically claims `key` until `expires_at`. `Ok(false)` when it is already claimed and unexpired:
    /// of many concurrent claims of one key exactly one wins.
    async fn claim(
        &self,
        key: &PaymentKey,
        expires_at: UnixSecs,
        now: UnixSecs,
    ) -> Result<bool, StoreError>;
    /// Gives a claim back (the payment was not charged: invalid, origin error, settlement refused).
    async fn release(&self, key: &PaymentKey) -> Result<(), StoreError>;
    /// Forgets claims that expired before `now`; returns how many.
    async fn sweep(&self, now: UnixSecs) -> usize;
    /// Live claims.
    fn len(&self) -> usize;
    /// Whether no claim is live.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

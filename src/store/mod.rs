//! State that outlives a request, behind traits chosen at startup: the single-use payment guard
//! (`ReplayGuard`) and what access without a fresh payment remembers (`AccessState`: pass uses,
//! redeemed sign-in nonces, payment identifiers), and the toll booth's tabs (`TabBook`). In-memory first; Redis/PostgreSQL join behind the
//! same traits when several nodes share state.

mod access;
mod in_flight;
mod ledgered;
mod memory;
mod tabs;

use alloy_primitives::{Address, B256};
use async_trait::async_trait;

pub use access::{AccessState, FirstOutcome, Idempotent, MemoryAccessState, PassUse};
pub use in_flight::{InFlight, Permit};
pub use ledgered::LedgeredAccessState;
pub use memory::MemoryReplayGuard;
pub use tabs::{NonceReused, TabBook, TabClosed, TabHold};

use crate::clock::UnixSecs;

/// What makes an `exact` payment unique on chain: EIP-3009 nonces are per (token, payer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentKey {
    pub chain_id: u64,
    pub asset: Address,
    pub payer: Address,
    pub nonce: B256,
}

impl PaymentKey {
    /// A 16-byte digest of the key (keccak-256, truncated): what stores keep instead of the
    /// 80-byte key. Nobody can aim a collision at another payer's payment (2^128 work), and a
    /// payer colliding two of their own payments only refuses their own second one.
    pub fn digest(&self) -> [u8; 16] {
        let mut bytes = [0u8; 80];
        bytes[..8].copy_from_slice(&self.chain_id.to_be_bytes());
        bytes[8..28].copy_from_slice(self.asset.as_slice());
        bytes[28..48].copy_from_slice(self.payer.as_slice());
        bytes[48..80].copy_from_slice(self.nonce.as_slice());
        let hash = alloy_primitives::keccak256(bytes);
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash[..16]);
        out
    }
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
    /// Restores a claim by its key's digest (from the ledger, at start-up).
    async fn seed(&self, digest: [u8; 16], expires_at: UnixSecs) -> Result<(), StoreError>;
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

//! What access without a fresh payment must remember: pass uses and revocations, redeemed
//! sign-in nonces, and the first outcome of each payment identifier. The trait is the seam a
//! shared store (Redis, PostgreSQL) implements for several nodes; [`MemoryAccessState`] is the
//! in-process one, sharded maps with atomic per-entry updates.

use std::sync::Arc;

use alloy_primitives::Address;
use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::StoreError;
use crate::clock::UnixSecs;

/// One use of a pass, asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassUse {
    /// Granted; this many are left.
    Granted { left: u32 },
    /// None are left.
    Exhausted,
    /// The payment that bought it did not settle.
    Revoked,
}

/// The first outcome of a payment identifier, handed to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstOutcome {
    pub payer: Address,
    /// The headers the paid response carried (`PAYMENT-RESPONSE`, the pass).
    pub headers: Vec<(&'static str, String)>,
}

/// What a payment identifier's request is, given what was seen first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent {
    /// Never seen (or its first payment was not charged): this payment goes ahead.
    First,
    /// Seen with the same request and payer, and charged: serve it with this outcome, charge nothing.
    Replay(Arc<FirstOutcome>),
    /// Seen with another request or payer.
    Conflict,
    /// Its first payment is still being processed.
    InProgress,
}

/// Access state, shared by every request (and, behind a shared store, every node).
#[async_trait]
pub trait AccessState: Send + Sync {
    /// Takes one of a pass's `budget` uses; the count lives until `expires_at`.
    async fn take_use(
        &self,
        pass: [u8; 16],
        budget: u32,
        expires_at: UnixSecs,
    ) -> Result<PassUse, StoreError>;
    /// Gives a use back (the request it was taken for was not delivered).
    async fn give_back_use(&self, pass: [u8; 16]) -> Result<(), StoreError>;
    /// Revokes a pass until `until` (its payment's settlement failed).
    async fn revoke(&self, pass: [u8; 16], until: UnixSecs) -> Result<(), StoreError>;
    /// Redeems a single-use token: `Ok(false)` if it was redeemed already.
    async fn redeem(&self, token: [u8; 16], expires_at: UnixSecs) -> Result<bool, StoreError>;
    /// Looks up (and, when new, opens) a payment identifier for this request and payer.
    async fn begin_idempotent(
        &self,
        id: [u8; 16],
        fingerprint: [u8; 32],
        payer: Address,
        expires_at: UnixSecs,
        now: UnixSecs,
    ) -> Result<Idempotent, StoreError>;
    /// Records the charged outcome its retries get.
    async fn finish_idempotent(&self, id: [u8; 16], outcome: FirstOutcome);
    /// Forgets an identifier whose payment was not charged: a retry may pay.
    async fn abort_idempotent(&self, id: [u8; 16]);
    /// Forgets everything that expired before `now`; returns how many entries.
    async fn sweep(&self, now: UnixSecs) -> usize;
}

#[derive(Debug)]
struct Uses {
    used: u32,
    revoked: bool,
    expires_at: UnixSecs,
}

#[derive(Debug)]
struct IdEntry {
    fingerprint: [u8; 32],
    payer: Address,
    expires_at: UnixSecs,
    outcome: Option<Arc<FirstOutcome>>,
}

/// The in-process access state.
#[derive(Debug, Default)]
pub struct MemoryAccessState {
    uses: DashMap<[u8; 16], Uses>,
    redeemed: DashMap<[u8; 16], UnixSecs>,
    ids: DashMap<[u8; 16], IdEntry>,
}

impl MemoryAccessState {
    pub fn new() -> Self {
        Self::default()
    }

    /// A pass's uses taken, whether it is revoked, and until when it is kept.
    pub fn pass(&self, pass: [u8; 16]) -> Option<(u32, bool, UnixSecs)> {
        self.uses
            .get(&pass)
            .map(|u| (u.used, u.revoked, u.expires_at))
    }

    /// Restores a pass's count (at start-up, from durable storage).
    pub fn restore_pass(&self, pass: [u8; 16], used: u32, revoked: bool, expires_at: UnixSecs) {
        self.uses.insert(
            pass,
            Uses {
                used,
                revoked,
                expires_at,
            },
        );
    }

    /// Restores a redeemed token.
    pub fn restore_redeemed(&self, token: [u8; 16], expires_at: UnixSecs) {
        self.redeemed.insert(token, expires_at);
    }

    /// A payment identifier's fingerprint, payer, expiry and charged outcome, once charged.
    pub fn charged(&self, id: [u8; 16]) -> Option<([u8; 32], UnixSecs, Arc<FirstOutcome>)> {
        let e = self.ids.get(&id)?;
        Some((e.fingerprint, e.expires_at, e.outcome.clone()?))
    }

    /// Restores a payment identifier's charged outcome.
    pub fn restore_charged(
        &self,
        id: [u8; 16],
        fingerprint: [u8; 32],
        expires_at: UnixSecs,
        outcome: FirstOutcome,
    ) {
        self.ids.insert(
            id,
            IdEntry {
                fingerprint,
                payer: outcome.payer,
                expires_at,
                outcome: Some(Arc::new(outcome)),
            },
        );
    }
}

#[async_trait]
impl AccessState for MemoryAccessState {
    async fn take_use(
        &self,
        pass: [u8; 16],
        budget: u32,
        expires_at: UnixSecs,
    ) -> Result<PassUse, StoreError> {
        let mut entry = self.uses.entry(pass).or_insert(Uses {
            used: 0,
            revoked: false,
            expires_at,
        });
        let u = entry.value_mut();
        u.expires_at = u.expires_at.max(expires_at);
        Ok(if u.revoked {
            PassUse::Revoked
        } else if u.used >= budget {
            PassUse::Exhausted
        } else {
            u.used += 1;
            PassUse::Granted {
                left: budget - u.used,
            }
        })
    }

    async fn give_back_use(&self, pass: [u8; 16]) -> Result<(), StoreError> {
        if let Some(mut u) = self.uses.get_mut(&pass) {
            u.used = u.used.saturating_sub(1);
        }
        Ok(())
    }

    async fn revoke(&self, pass: [u8; 16], until: UnixSecs) -> Result<(), StoreError> {
        let mut entry = self.uses.entry(pass).or_insert(Uses {
            used: 0,
            revoked: true,
            expires_at: until,
        });
        entry.revoked = true;
        entry.expires_at = entry.expires_at.max(until);
        Ok(())
    }

    async fn redeem(&self, token: [u8; 16], expires_at: UnixSecs) -> Result<bool, StoreError> {
        Ok(match self.redeemed.entry(token) {
            Entry::Occupied(_) => false,
            Entry::Vacant(free) => {
                free.insert(expires_at);
                true
            }
        })
    }

    async fn begin_idempotent(
        &self,
        id: [u8; 16],
        fingerprint: [u8; 32],
        payer: Address,
        expires_at: UnixSecs,
        now: UnixSecs,
    ) -> Result<Idempotent, StoreError> {
        let fresh = IdEntry {
            fingerprint,
            payer,
            expires_at,
            outcome: None,
        };
        Ok(match self.ids.entry(id) {
            Entry::Vacant(free) => {
                free.insert(fresh);
                Idempotent::First
            }
            Entry::Occupied(mut seen) if seen.get().expires_at < now => {
                seen.insert(fresh);
                Idempotent::First
            }
            Entry::Occupied(seen) => {
                let e = seen.get();
                if e.fingerprint != fingerprint || e.payer != payer {
                    Idempotent::Conflict
                } else {
                    match &e.outcome {
                        Some(first) => Idempotent::Replay(first.clone()),
                        None => Idempotent::InProgress,
                    }
                }
            }
        })
    }

    async fn finish_idempotent(&self, id: [u8; 16], outcome: FirstOutcome) {
        if let Some(mut e) = self.ids.get_mut(&id) {
            e.outcome = Some(Arc::new(outcome));
        }
    }

    async fn abort_idempotent(&self, id: [u8; 16]) {
        self.ids.remove_if(&id, |_, e| e.outcome.is_none());
    }

    async fn sweep(&self, now: UnixSecs) -> usize {
        let before = self.uses.len() + self.redeemed.len() + self.ids.len();
        self.uses.retain(|_, u| u.expires_at >= now);
        self.redeemed.retain(|_, e| *e >= now);
        self.ids.retain(|_, e| e.expires_at >= now);
        before - (self.uses.len() + self.redeemed.len() + self.ids.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pass_gives_exactly_its_budget_even_when_raced() {
        let s = Arc::new(MemoryAccessState::new());
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.take_use([1; 16], 50, 100).await.unwrap()
            }));
        }
        let mut granted = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), PassUse::Granted { .. }) {
                granted += 1;
            }
        }
        assert_eq!(granted, 50);
        assert_eq!(
            s.take_use([1; 16], 50, 100).await.unwrap(),
            PassUse::Exhausted
        );
        s.give_back_use([1; 16]).await.unwrap();
        assert_eq!(
            s.take_use([1; 16], 50, 100).await.unwrap(),
            PassUse::Granted { left: 0 }
        );
    }

    #[tokio::test]
    async fn revoked_passes_stay_revoked_until_swept() {
        let s = MemoryAccessState::new();
        s.revoke([2; 16], 100).await.unwrap();
        assert_eq!(s.take_use([2; 16], 5, 50).await.unwrap(), PassUse::Revoked);
        assert_eq!(s.sweep(101).await, 1);
    }

    #[tokio::test]
    async fn tokens_redeem_once() {
        let s = MemoryAccessState::new();
        assert!(s.redeem([3; 16], 10).await.unwrap());
        assert!(!s.redeem([3; 16], 10).await.unwrap());
        s.sweep(11).await;
        assert!(s.redeem([3; 16], 20).await.unwrap());
    }

    #[tokio::test]
    async fn identifiers_replay_conflict_and_reopen() {
        let s = MemoryAccessState::new();
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let begin = |fp: u8, payer| s.begin_idempotent([4; 16], [fp; 32], payer, 100, 10);
        assert_eq!(begin(1, a).await.unwrap(), Idempotent::First);
        assert_eq!(begin(1, a).await.unwrap(), Idempotent::InProgress);
        assert_eq!(begin(2, a).await.unwrap(), Idempotent::Conflict);
        s.abort_idempotent([4; 16]).await;
        assert_eq!(begin(1, a).await.unwrap(), Idempotent::First);
        let first = FirstOutcome {
            payer: a,
            headers: vec![("PAYMENT-RESPONSE", "x".into())],
        };
        s.finish_idempotent([4; 16], first.clone()).await;
        assert_eq!(
            begin(1, a).await.unwrap(),
            Idempotent::Replay(Arc::new(first))
        );
        assert_eq!(begin(1, b).await.unwrap(), Idempotent::Conflict);
        // A charged outcome is never aborted away.
        s.abort_idempotent([4; 16]).await;
        assert!(matches!(begin(1, a).await.unwrap(), Idempotent::Replay(_)));
        assert_eq!(
            s.begin_idempotent([4; 16], [1; 32], a, 300, 101)
                .await
                .unwrap(),
            Idempotent::First
        );
    }
}

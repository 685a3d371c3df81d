//! Access state that survives a restart: the in-memory state, with what a restart must not undo
//! written to the ledger's `access_state` table, and restored from it before the gateway serves.
//!
//! Pass uses are written ahead in blocks: the ledger holds a count at or above the uses taken,
//! and the one use in a block that crosses it waits for the next block's write (at most 64 uses
//! per write; passes with unlimited uses count nothing). A restart therefore never gives a pass
//! more uses, and can cost its holder at most one block. Revocations, redeemed nonces and charged
//! payment identifiers are queued in order behind the request; a `kill -9` can lose only what
//! the writer had not committed in its last few milliseconds.

use std::sync::Arc;

use alloy_primitives::Address;
use async_trait::async_trait;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use super::{AccessState, FirstOutcome, Idempotent, MemoryAccessState, PassUse, StoreError};
use crate::clock::UnixSecs;
use crate::ledger::{AccessKind, AccessRow, Ledger, LedgerError};

/// Memory first, the ledger behind.
pub struct LedgeredAccessState {
    memory: MemoryAccessState,
    ledger: Arc<Ledger>,
    /// The uses the ledger holds per pass (at or above the uses taken).
    marks: DashMap<[u8; 16], u32>,
}

/// Uses written ahead per ledger write.
fn block(budget: u32) -> u32 {
    (budget / 16).clamp(1, 64)
}

/// A payment identifier's row data.
#[derive(Serialize, Deserialize)]
struct Charged {
    fingerprint: String,
    payer: Address,
    headers: Vec<(String, String)>,
}

/// Names a first outcome may carry (what `grant::after_payment` and `deliver` add).
const OUTCOME_HEADERS: [&str; 5] = [
    "PAYMENT-RESPONSE",
    "X-PAYMENT-RESPONSE",
    "Cache-Control",
    "Set-Cookie",
    "X402-Pass",
];

impl LedgeredAccessState {
    /// Restores what the ledger kept that is alive at `now`.
    pub fn restore(ledger: Arc<Ledger>, now: UnixSecs) -> Result<Self, LedgerError> {
        let memory = MemoryAccessState::new();
        let marks = DashMap::new();
        for row in ledger.access_rows(now)? {
            match row.kind {
                AccessKind::Pass => {
                    memory.restore_pass(row.key, row.used, row.revoked, row.expires_at);
                    marks.insert(row.key, row.used);
                }
                AccessKind::Nonce => memory.restore_redeemed(row.key, row.expires_at),
                AccessKind::PaymentId => {
                    let Some(c) = row
                        .data
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<Charged>(d).ok())
                    else {
                        continue;
                    };
                    let mut fingerprint = [0u8; 32];
                    if alloy_primitives::hex::decode_to_slice(&c.fingerprint, &mut fingerprint)
                        .is_err()
                    {
                        continue;
                    }
                    let headers = c
                        .headers
                        .into_iter()
                        .filter_map(|(name, value)| {
                            let known = OUTCOME_HEADERS
                                .iter()
                                .find(|n| n.eq_ignore_ascii_case(&name))?;
                            Some((*known, value))
                        })
                        .collect();
                    let outcome = FirstOutcome {
                        payer: c.payer,
                        headers,
                    };
                    memory.restore_charged(row.key, fingerprint, row.expires_at, outcome);
                }
            }
        }
        ledger.sweep_access_later(now);
        Ok(Self {
            memory,
            ledger,
            marks,
        })
    }

    /// The row of a pass, with `used` at `mark`.
    fn pass_row(&self, pass: [u8; 16], mark: u32) -> Option<AccessRow> {
        let (used, revoked, expires_at) = self.memory.pass(pass)?;
        Some(AccessRow {
            key: pass,
            kind: AccessKind::Pass,
            used: mark.max(used),
            revoked,
            data: None,
            expires_at,
        })
    }
}

#[async_trait]
impl AccessState for LedgeredAccessState {
    async fn take_use(
        &self,
        pass: [u8; 16],
        budget: u32,
        expires_at: UnixSecs,
    ) -> Result<PassUse, StoreError> {
        let taken = self.memory.take_use(pass, budget, expires_at).await?;
        let PassUse::Granted { left } = taken else {
            return Ok(taken);
        };
        if budget == u32::MAX {
            return Ok(taken);
        }
        let used = budget - left;
        // The use that crosses the ledger's count moves it a block ahead, and waits for that.
        let ahead = {
            let mut mark = self.marks.entry(pass).or_insert(0);
            (used > *mark).then(|| {
                *mark = (used - 1).saturating_add(block(budget)).min(budget);
                *mark
            })
        };
        let Some(row) = ahead.and_then(|mark| self.pass_row(pass, mark)) else {
            return Ok(taken);
        };
        if let Err(e) = self.ledger.put_access(row).await {
            // Not durable: the use is not granted.
            self.marks.remove(&pass);
            self.memory.give_back_use(pass).await?;
            return Err(StoreError(e.to_string()));
        }
        Ok(taken)
    }

    async fn give_back_use(&self, pass: [u8; 16]) -> Result<(), StoreError> {
        // The ledger's count stays ahead of the uses taken: nothing to write.
        self.memory.give_back_use(pass).await
    }

    async fn revoke(&self, pass: [u8; 16], until: UnixSecs) -> Result<(), StoreError> {
        self.memory.revoke(pass, until).await?;
        let mark = self.marks.get(&pass).map_or(0, |m| *m);
        if let Some(row) = self.pass_row(pass, mark) {
            self.ledger.put_access_later(row);
        }
        Ok(())
    }

    async fn redeem(&self, token: [u8; 16], expires_at: UnixSecs) -> Result<bool, StoreError> {
        let first = self.memory.redeem(token, expires_at).await?;
        if first {
            self.ledger.put_access_later(AccessRow {
                key: token,
                kind: AccessKind::Nonce,
                used: 1,
                revoked: false,
                data: None,
                expires_at,
            });
        }
        Ok(first)
    }

    async fn begin_idempotent(
        &self,
        id: [u8; 16],
        fingerprint: [u8; 32],
        payer: Address,
        expires_at: UnixSecs,
        now: UnixSecs,
    ) -> Result<Idempotent, StoreError> {
        // Opened in memory only: what a restart must keep is the charged outcome.
        self.memory
            .begin_idempotent(id, fingerprint, payer, expires_at, now)
            .await
    }

    async fn finish_idempotent(&self, id: [u8; 16], outcome: FirstOutcome) {
        self.memory.finish_idempotent(id, outcome).await;
        let Some((fingerprint, expires_at, outcome)) = self.memory.charged(id) else {
            return;
        };
        let charged = Charged {
            fingerprint: alloy_primitives::hex::encode(fingerprint),
            payer: outcome.payer,
            headers: outcome
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), v.clone()))
                .collect(),
        };
        self.ledger.put_access_later(AccessRow {
            key: id,
            kind: AccessKind::PaymentId,
            used: 0,
            revoked: false,
            data: serde_json::to_string(&charged).ok(),
            expires_at,
        });
    }

    async fn abort_idempotent(&self, id: [u8; 16]) {
        self.memory.abort_idempotent(id).await;
    }

    async fn sweep(&self, now: UnixSecs) -> usize {
        let swept = self.memory.sweep(now).await;
        if swept > 0 {
            self.ledger.sweep_access_later(now);
        }
        swept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerOptions;

    fn ledger(dir: &tempfile::TempDir) -> Arc<Ledger> {
        Arc::new(Ledger::open(LedgerOptions::new(dir.path().join("l.sqlite"))).unwrap())
    }

    async fn settle(ledger: &Ledger) {
        // A transition through the same queue: once it is answered, everything before it is
        // committed.
        let _ = ledger
            .transition(
                "0".repeat(32).as_str(),
                crate::ledger::State::Released,
                None,
                None,
            )
            .await;
    }

    #[tokio::test]
    async fn pass_uses_revocations_nonces_and_outcomes_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = Address::repeat_byte(1);
        {
            let l = ledger(&dir);
            let s = LedgeredAccessState::restore(l.clone(), 100).unwrap();
            for _ in 0..3 {
                s.take_use([1; 16], 5, 1_000).await.unwrap();
            }
            s.revoke([2; 16], 1_000).await.unwrap();
            assert!(s.redeem([3; 16], 1_000).await.unwrap());
            let begun = s
                .begin_idempotent([4; 16], [9; 32], a, 1_000, 100)
                .await
                .unwrap();
            assert_eq!(begun, Idempotent::First);
            let first = FirstOutcome {
                payer: a,
                headers: vec![("PAYMENT-RESPONSE", "abc".into())],
            };
            s.finish_idempotent([4; 16], first).await;
            // Expired already at the next start: not restored.
            s.take_use([5; 16], 5, 150).await.unwrap();
            settle(&l).await;
        }
        let s = LedgeredAccessState::restore(ledger(&dir), 200).unwrap();
        assert_eq!(
            s.take_use([1; 16], 5, 1_000).await.unwrap(),
            PassUse::Granted { left: 1 }
        );
        assert_eq!(
            s.take_use([2; 16], 5, 1_000).await.unwrap(),
            PassUse::Revoked
        );
        assert!(!s.redeem([3; 16], 1_000).await.unwrap());
        match s
            .begin_idempotent([4; 16], [9; 32], a, 1_000, 200)
            .await
            .unwrap()
        {
            Idempotent::Replay(first) => {
                assert_eq!(first.headers, vec![("PAYMENT-RESPONSE", "abc".to_string())])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.take_use([5; 16], 5, 1_000).await.unwrap(),
            PassUse::Granted { left: 4 }
        );
    }

    #[tokio::test]
    async fn large_budgets_are_written_a_block_ahead_and_a_restart_never_adds_uses() {
        let dir = tempfile::tempdir().unwrap();
        {
            let l = ledger(&dir);
            let s = LedgeredAccessState::restore(l.clone(), 100).unwrap();
            // Budget 160: blocks of 10; the first use takes the ledger's count to 10.
            let first = s.take_use([1; 16], 160, 1_000).await.unwrap();
            assert_eq!(first, PassUse::Granted { left: 159 });
            for _ in 0..9 {
                s.take_use([1; 16], 160, 1_000).await.unwrap();
            }
            // Unlimited: nothing to count, nothing written.
            s.take_use([2; 16], u32::MAX, 1_000).await.unwrap();
            settle(&l).await;
            assert_eq!(l.access_rows(100).unwrap().len(), 1);
        }
        let s = LedgeredAccessState::restore(ledger(&dir), 200).unwrap();
        let next = s.take_use([1; 16], 160, 1_000).await.unwrap();
        assert_eq!(next, PassUse::Granted { left: 149 });
    }
}

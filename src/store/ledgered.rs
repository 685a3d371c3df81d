//! Access state that survives a restart: the in-memory state, with every change also queued to
//! the ledger's `access_state` table (in order, not awaited: a pass check stays in memory), and
//! restored from it before the gateway serves. A `kill -9` can lose only the changes of the last
//! few milliseconds, which the writer had not committed yet.

use std::sync::Arc;

use alloy_primitives::Address;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{AccessState, FirstOutcome, Idempotent, MemoryAccessState, PassUse, StoreError};
use crate::clock::UnixSecs;
use crate::ledger::{AccessKind, AccessRow, Ledger, LedgerError};

/// Memory first, the ledger behind.
pub struct LedgeredAccessState {
    memory: MemoryAccessState,
    ledger: Arc<Ledger>,
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
        for row in ledger.access_rows(now)? {
            match row.kind {
                AccessKind::Pass => {
                    memory.restore_pass(row.key, row.used, row.revoked, row.expires_at)
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
        Ok(Self { memory, ledger })
    }

    fn save_pass(&self, pass: [u8; 16]) {
        if let Some((used, revoked, expires_at)) = self.memory.pass(pass) {
            self.ledger.put_access_later(AccessRow {
                key: pass,
                kind: AccessKind::Pass,
                used,
                revoked,
                data: None,
                expires_at,
            });
        }
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
        if matches!(taken, PassUse::Granted { .. }) {
            self.save_pass(pass);
        }
        Ok(taken)
    }

    async fn give_back_use(&self, pass: [u8; 16]) -> Result<(), StoreError> {
        self.memory.give_back_use(pass).await?;
        self.save_pass(pass);
        Ok(())
    }

    async fn revoke(&self, pass: [u8; 16], until: UnixSecs) -> Result<(), StoreError> {
        self.memory.revoke(pass, until).await?;
        self.save_pass(pass);
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
}

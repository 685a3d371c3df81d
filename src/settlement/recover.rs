//! Start-up: nothing accepted is lost, nothing is submitted twice.
//!
//! 1. Every payment the ledger holds that is not `released` and whose window is open is claimed
//!    again in the replay guard: none can be replayed after a restart.
//! 2. Open payments resume by state:
//!    - `forwarded` (a `background` payment accepted and not given back: owed): queued for
//!      settlement, counted as owed again;
//!    - `settling`: something may be out; a `background` one is queued to ask the chain first
//!      (after a receipt timeout, when the gateway itself may have sent it),
//!      an `after`/`before` one (whose client got nothing) is asked now: spent →
//!      `paid_not_delivered` (the same payment presented again gets its delivery), not spent →
//!      `released`;
//!    - `reserved` (accepted, not answered): asked the same way when the chain can be read (a
//!      settlement may have begun unrecorded), else `released`;
//!    - `paid_not_delivered`: kept, claimed, waiting for its one delivery.

use std::sync::Arc;

use super::{Job, Settlement, record};
use crate::evm::chain::ChainReader;
use crate::ledger::{LedgerError, Move, Record, State};
use crate::snapshot::{SettlePolicy, Snapshot};
use crate::store::{PaymentKey, ReplayGuard};

/// What recovery did, for the log and the tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub resumed: usize,
    pub released: usize,
    pub paid_not_delivered: usize,
}

/// Step 1, before the gateway serves: the replay guard learns every live payment.
pub async fn restore_claims(
    settlement: &Settlement,
    guard: &dyn ReplayGuard,
    now_secs: u64,
) -> Result<usize, LedgerError> {
    let Some(ledger) = settlement.ledger() else {
        return Ok(0);
    };
    let mut restored = 0;
    for (id, valid_before) in ledger.reader().live_ids(now_secs)? {
        let Some(digest) = digest_of(&id) else {
            continue;
        };
        if guard.seed(digest, valid_before).await.is_ok() {
            restored += 1;
        }
    }
    Ok(restored)
}

/// Step 2, once the worker runs (it needs the chain): open payments resume.
pub async fn resume(
    settlement: &Arc<Settlement>,
    guard: &dyn ReplayGuard,
    snapshot: &Snapshot,
) -> Result<Recovered, LedgerError> {
    let mut done = Recovered::default();
    let Some(ledger) = settlement.ledger().cloned() else {
        return Ok(done);
    };
    let mut moves: Vec<Move> = Vec::new();
    for rec in ledger.reader().open_records()? {
        let mut paid = match record::to_paid(&rec) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(id = %rec.id, "ledger row unreadable, left as is: {e}");
                continue;
            }
        };
        let chain = snapshot.chains.get(&rec.chain_id).map(|c| c.as_ref());
        match (rec.state, paid.policy) {
            (State::PaidNotDelivered, _) => done.paid_not_delivered += 1,
            (State::Forwarded, _) | (State::Settling, SettlePolicy::Background) => {
                let debtor = (paid.key.chain_id, paid.key.asset, paid.key.payer);
                paid.owed = Some(Arc::new(settlement.owed.hold(debtor, paid.auth.value)));
                let job = Job {
                    paid,
                    check_chain_first: rec.state == State::Settling,
                };
                // One that may be out already waits for its transaction to land (or not)
                // before the chain is asked, so it is not sent a second time.
                let pause = snapshot
                    .onchain
                    .get(&rec.chain_id)
                    .filter(|_| job.check_chain_first)
                    .map(|s| s.settings().receipt_timeout);
                match pause {
                    Some(pause) => {
                        let settlement = settlement.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(pause).await;
                            settlement.requeue(job);
                        });
                    }
                    None => settlement.requeue(job),
                }
                done.resumed += 1;
            }
            (State::Settling | State::Reserved, _) => match spent(chain, &paid.key).await {
                Some(true) => {
                    if rec.state == State::Reserved {
                        moves.push(mv(&rec, State::Settling, None));
                    }
                    moves.push(mv(&rec, State::PaidNotDelivered, Some("interrupted")));
                    done.paid_not_delivered += 1;
                }
                Some(false) => {
                    moves.push(mv(&rec, State::Released, Some("interrupted")));
                    let _ = guard.release(&paid.key).await;
                    done.released += 1;
                }
                // The chain cannot be read now: left open and claimed, asked at the next start.
                None => {}
            },
            _ => {}
        }
    }
    if !moves.is_empty() {
        ledger.transition_many(moves).await?;
    }
    Ok(done)
}

/// Whether the chain shows the payment spent; without a chain to ask, not spent (nothing can
/// be learned later either); `None` when the chain cannot be read now.
async fn spent(chain: Option<&ChainReader>, k: &PaymentKey) -> Option<bool> {
    let Some(chain) = chain else {
        return Some(false);
    };
    chain.is_spent(k.asset, k.payer, k.nonce).await.ok()
}

fn mv(rec: &Record, to: State, reason: Option<&str>) -> Move {
    (rec.id.clone(), to, None, reason.map(str::to_string))
}

fn digest_of(id: &str) -> Option<[u8; 16]> {
    let bytes = alloy_primitives::hex::decode(id).ok()?;
    bytes.try_into().ok()
}

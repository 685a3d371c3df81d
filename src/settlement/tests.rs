//! The rows `Settlement` writes on the request path, read back from a real ledger file.

use std::sync::Arc;

use super::*;
use crate::ledger::LedgerOptions;

fn settlement() -> (tempfile::TempDir, Arc<Ledger>, Settlement) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(LedgerOptions::new(dir.path().join("l.db"))).unwrap());
    let (settlement, _jobs) = Settlement::new(ledger.clone());
    (dir, ledger, settlement)
}

fn state_of(ledger: &Ledger, paid: &PaidRequest) -> (State, Option<String>) {
    let row = ledger.get(&paid.ledger_id()).unwrap().expect("row written");
    (row.state, row.reason)
}

/// Far in the future: every payment here is live.
const OPEN: u64 = u64::MAX / 2;

fn background() -> PaidRequest {
    let mut paid = PaidRequest::sample(OPEN);
    paid.policy = SettlePolicy::Background;
    paid
}

/// A background payment accepted, then given back for `reason`.
async fn given_back(reason: &str) -> (tempfile::TempDir, Arc<Ledger>, Settlement, PaidRequest) {
    let (dir, ledger, settlement) = settlement();
    let paid = background();
    settlement.accept(&paid).await.unwrap();
    settlement.give_back(&paid, reason).await;
    (dir, ledger, settlement, paid)
}

#[tokio::test]
async fn a_background_payment_is_owed_from_the_moment_it_is_accepted() {
    let (_dir, ledger, settlement) = settlement();
    let paid = background();
    assert_eq!(settlement.accept(&paid).await.unwrap(), Accept::Recorded);
    assert_eq!(state_of(&ledger, &paid), (State::Forwarded, None));
}

#[tokio::test]
async fn other_policies_start_reserved() {
    let (_dir, ledger, settlement) = settlement();
    for policy in [SettlePolicy::After, SettlePolicy::Before] {
        let mut paid = PaidRequest::sample(OPEN);
        paid.key.nonce = alloy_primitives::B256::repeat_byte(policy as u8 + 10);
        paid.policy = policy;
        settlement.accept(&paid).await.unwrap();
        assert_eq!(state_of(&ledger, &paid).0, State::Reserved, "{policy:?}");
    }
}

#[tokio::test]
async fn a_background_payment_given_back_is_released_on_disk_before_give_back_returns() {
    let (_dir, ledger, _settlement, paid) = given_back("origin_error").await;
    // Read at once: the write was awaited, so a restart cannot find it owed and settle it.
    assert_eq!(
        state_of(&ledger, &paid),
        (State::Released, Some("origin_error".into()))
    );
    assert!(
        ledger.open_records().unwrap().is_empty(),
        "nothing to resume"
    );
}

#[tokio::test]
async fn a_payment_given_back_may_be_presented_again_and_is_owed_again() {
    let (_dir, ledger, settlement, paid) = given_back("not_delivered").await;
    assert_eq!(settlement.accept(&paid).await.unwrap(), Accept::Recorded);
    assert_eq!(state_of(&ledger, &paid), (State::Forwarded, None));
    // Owed now: the same payment again is known, not recorded twice.
    assert_eq!(
        settlement.accept(&paid).await.unwrap(),
        Accept::Known(State::Forwarded)
    );
}

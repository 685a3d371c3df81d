use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::admin::Metrics;
use crate::clock::FixedClock;
use crate::store::{MemoryReplayGuard, ReplayGuard};
use crate::x402::Version;

const NOW: u64 = 1_000_000;

/// A settler that answers from a script, one answer per call; `None` never answers.
struct Scripted(
    Vec<Option<Result<SettleResponse, FacilitatorError>>>,
    AtomicUsize,
);

impl Scripted {
    fn answers(answers: Vec<Option<SettleResponse>>) -> Self {
        Self(
            answers.into_iter().map(|a| a.map(Ok)).collect(),
            AtomicUsize::new(0),
        )
    }
}

#[async_trait]
impl Settler for Scripted {
    async fn settle(&self, _: &Payment<'_>) -> Result<SettleResponse, FacilitatorError> {
        let i = self.1.fetch_add(1, Ordering::SeqCst);
        match self.0.get(i).cloned().flatten() {
            Some(r) => r,
            None => std::future::pending().await,
        }
    }
}

fn answer(success: bool, reason: Option<&str>) -> SettleResponse {
    SettleResponse {
        success,
        error_reason: reason.map(str::to_string),
        error_message: None,
        payer: None,
        transaction: if success {
            "0xabc".into()
        } else {
            String::new()
        },
        network: "eip155:84532".into(),
        amount: None,
    }
}

async fn setup(valid_before: u64) -> (Payments, PaidRequest) {
    let guard = Arc::new(MemoryReplayGuard::new());
    let paid = PaidRequest::sample(valid_before);
    assert!(guard.claim(&paid.key, valid_before, NOW).await.unwrap());
    let payments = Payments::new(
        guard,
        Arc::new(FixedClock(NOW)),
        Arc::new(Metrics::new().unwrap()),
    );
    (payments, paid)
}

async fn claimable(payments: &Payments, paid: &PaidRequest) -> bool {
    payments
        .guard
        .claim(&paid.key, paid.auth.valid_before, NOW)
        .await
        .unwrap()
}

#[tokio::test]
async fn origin_errors_release_the_claim_and_charge_nothing() {
    let (payments, mut paid) = setup(NOW + 300).await;
    let settler = Scripted::answers(vec![]);
    let outcome = after_origin(&payments, &settler, None, &mut paid, 503).await;
    assert!(matches!(outcome, SettleOutcome::NotCharged));
    assert_eq!(settler.1.load(Ordering::SeqCst), 0, "never asked to settle");
    assert!(claimable(&payments, &paid).await, "released");
}

#[tokio::test]
async fn settlement_pending_is_retried_once() {
    let (payments, mut paid) = setup(NOW + 300).await;
    let settler = Scripted::answers(vec![
        Some(answer(false, Some("settlement_pending"))),
        Some(answer(true, None)),
    ]);
    let outcome = after_origin(&payments, &settler, None, &mut paid, 200).await;
    assert!(matches!(outcome, SettleOutcome::Settled(r) if r.transaction == "0xabc"));
    assert_eq!(paid.state, PaymentState::Settled);
    assert!(
        !claimable(&payments, &paid).await,
        "a settled payment stays used"
    );
}

#[tokio::test]
async fn a_refused_settlement_releases_the_claim() {
    let (payments, mut paid) = setup(NOW + 300).await;
    let mut refusal = answer(false, Some("insufficient_funds"));
    refusal.error_message = Some("balance 0 at https://user:secret@facilitator.internal".into());
    let settler = Scripted::answers(vec![Some(refusal)]);
    let outcome = after_origin(&payments, &settler, None, &mut paid, 200).await;
    let SettleOutcome::Failed(r) = outcome else {
        panic!("expected a failure")
    };
    assert_eq!(r.error_reason.as_deref(), Some("insufficient_funds"));
    assert_eq!(
        r.error_message, None,
        "the facilitator's text never reaches the client"
    );
    assert_eq!(
        r.payer.as_deref(),
        Some(paid.payer.as_str()),
        "payer filled in"
    );
    assert!(claimable(&payments, &paid).await);
}

#[tokio::test(start_paused = true)]
async fn settlement_is_not_awaited_past_valid_before_and_keeps_the_claim() {
    let (payments, mut paid) = setup(NOW + 3).await;
    let settler = Scripted::answers(vec![None]);
    let started = tokio::time::Instant::now();
    let outcome = after_origin(&payments, &settler, None, &mut paid, 200).await;
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(outcome, SettleOutcome::Unknown), "{outcome:?}");
    assert_eq!(paid.state, PaymentState::Unknown);
    assert!(
        !claimable(&payments, &paid).await,
        "outcome unknown: the claim is kept"
    );
}

#[tokio::test]
async fn lost_answers_and_endless_pending_are_unknown_and_keep_the_claim() {
    let bad = FacilitatorError::BadResponse {
        status: 502,
        body: "bad gateway".into(),
    };
    let pending = || Some(Ok(answer(false, Some("settlement_pending"))));
    for script in [
        vec![Some(Err(bad.clone()))],
        vec![Some(Err(FacilitatorError::NoAnswer("timed out".into())))],
        vec![pending(), pending()],
    ] {
        let (payments, mut paid) = setup(NOW + 300).await;
        let settler = Scripted(script, AtomicUsize::new(0));
        let outcome = after_origin(&payments, &settler, None, &mut paid, 200).await;
        assert!(matches!(outcome, SettleOutcome::Unknown), "{outcome:?}");
        assert!(!claimable(&payments, &paid).await, "the claim is kept");
        let mut label = Outcome::Paid;
        assert!(matches!(
            outcome.apply(Version::V2, &mut label).map_err(|f| *f),
            Err(SettleFailure::Unknown)
        ));
        assert_eq!(label, Outcome::SettleUnknown);
    }
}

#[tokio::test]
async fn an_unreachable_facilitator_charged_nothing_and_releases_the_claim() {
    let (payments, mut paid) = setup(NOW + 300).await;
    let settler = Scripted(
        vec![Some(Err(FacilitatorError::Unreachable("refused".into())))],
        AtomicUsize::new(0),
    );
    let outcome = after_origin(&payments, &settler, None, &mut paid, 101).await;
    assert!(matches!(outcome, SettleOutcome::Unavailable), "{outcome:?}");
    assert!(claimable(&payments, &paid).await);
}

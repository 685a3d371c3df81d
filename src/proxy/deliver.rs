//! The one door from the request path to settlement: what happens to a verified payment, by its
//! route's policy, at each moment of its request.
//!
//! | moment | `before` | `after` | `background` |
//! |---|---|---|---|
//! | before forwarding | settle; refused → no forward | - | - |
//! | accepted (`Settlement::accept`, before forwarding) | `reserved` | `reserved` | `forwarded`: owed (durable) |
//! | origin answered (first byte not sent yet) | (settled) | settle if < 400 | < 400: answer at once; ≥ 400: give back; a `101` settles as `after` |
//! | request ended | not delivered → paid-not-delivered | not delivered → paid-not-delivered | delivered → queue the settlement; not delivered → give back |
//!
//! A payment charged or owed gains its route's pass, and its payment identifier records the
//! outcome for retries (`grant::after_payment`).
//!
//! Every step writes the payment's state to the ledger; the writes that must precede the
//! response (settled) or a restart (a `background` payment given back) are awaited, the others
//! are queued.

use super::ctx::{Outcome, PaidRequest, PaymentState};
use super::grant;
use super::paywall::Payments;
use super::settle::{self, SettleFailure, SettleOutcome};
use crate::ledger::State;
use crate::snapshot::{SettlePolicy, Snapshot};
use crate::x402::settlement::SettleResponse;

/// When the request path asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The payment was accepted; nothing forwarded yet.
    BeforeForward,
    /// The origin answered with this status; nothing sent to the client yet.
    Answered(u16),
}

/// Headers the response gains, or why it must be replaced.
pub type Settled = Result<Vec<(&'static str, String)>, Box<SettleFailure>>;

/// Settles (or defers) `paid` as its policy says at `moment`; once it is charged (or owed), the
/// response also carries its pass and its identifier records the outcome (`grant.rs`).
pub async fn settle_at(
    payments: &Payments,
    snapshot: &Snapshot,
    paid: &mut PaidRequest,
    moment: Moment,
    outcome: &mut Outcome,
) -> Settled {
    let mut settled = by_policy(payments, snapshot, paid, moment, outcome).await;
    if let (Moment::Answered(_), Ok(headers)) = (moment, &mut settled)
        && matches!(paid.state, PaymentState::Settled | PaymentState::Deferred)
    {
        grant::after_payment(payments, snapshot, paid, headers).await;
    }
    settled
}

async fn by_policy(
    payments: &Payments,
    snapshot: &Snapshot,
    paid: &mut PaidRequest,
    moment: Moment,
    outcome: &mut Outcome,
) -> Settled {
    match (moment, paid.state, paid.policy) {
        (Moment::BeforeForward, PaymentState::Verified, SettlePolicy::Before) => {
            settle_now(payments, snapshot, paid, 200, outcome).await
        }
        (Moment::BeforeForward, _, _) => Ok(Vec::new()),
        // Charged already (settled before forwarding, or a redelivery).
        (Moment::Answered(_), PaymentState::Settled, _) => Ok(settled_headers(paid)),
        (Moment::Answered(status), PaymentState::Verified, SettlePolicy::Background)
            if status != 101 =>
        {
            defer(payments, snapshot, paid, status, outcome).await
        }
        (Moment::Answered(status), PaymentState::Verified, _) => {
            settle_now(payments, snapshot, paid, status, outcome).await
        }
        (Moment::Answered(_), _, _) => Ok(Vec::new()),
    }
}

/// Settles now, recording each step.
async fn settle_now(
    payments: &Payments,
    snapshot: &Snapshot,
    paid: &mut PaidRequest,
    status: u16,
    outcome: &mut Outcome,
) -> Settled {
    let ledger = &payments.settlement;
    if status < 400 {
        ledger.mark(paid, State::Settling, None);
    }
    let chain = snapshot.chains.get(&paid.key.chain_id).map(|c| c.as_ref());
    let settler = snapshot.settler_for(paid.key.chain_id);
    let result = settle::after_origin(payments, settler, chain, paid, status).await;
    match &result {
        SettleOutcome::Settled(r) => {
            paid.transaction = Some(r.transaction.clone()).filter(|t| !t.is_empty());
            // Awaited: once the client has it, a restart must not think it undelivered.
            ledger.mark_now(paid, State::Settled, None).await;
        }
        SettleOutcome::NotCharged => ledger.give_back(paid, "origin_error").await,
        SettleOutcome::Unavailable => ledger.give_back(paid, "not_attempted").await,
        SettleOutcome::Failed(r) => {
            let reason = r.error_reason.as_deref().unwrap_or("settle_failed");
            ledger.mark(paid, State::Failed, Some(reason));
        }
        // Stays `settling`: a restart asks the chain.
        SettleOutcome::Unknown => {}
    }
    result.apply(paid.version, outcome)
}

/// `background`: the payment was recorded as owed when it was accepted (`Settlement::accept`),
/// so the response leaves at once; its settlement is queued once the response has been
/// delivered. An origin error gives it back.
async fn defer(
    payments: &Payments,
    snapshot: &Snapshot,
    paid: &mut PaidRequest,
    status: u16,
    outcome: &mut Outcome,
) -> Settled {
    if status >= 400 {
        return settle_now(payments, snapshot, paid, status, outcome).await;
    }
    if !payments.settlement.has_ledger() {
        // No ledger to settle from later: collect now instead.
        paid.policy = SettlePolicy::After;
        return settle_now(payments, snapshot, paid, status, outcome).await;
    }
    paid.state = PaymentState::Deferred;
    payments.metrics.payment("deferred");
    // No transaction yet (`paid.transaction` is empty): the official clients read `success` and
    // pass the response on.
    Ok(settled_headers(paid))
}

/// `PAYMENT-RESPONSE` of a payment charged already (or owed, without its transaction yet).
fn settled_headers(paid: &PaidRequest) -> Vec<(&'static str, String)> {
    let response = SettleResponse {
        success: true,
        error_reason: None,
        error_message: None,
        payer: Some(paid.payer.clone()),
        transaction: paid.transaction.clone().unwrap_or_default(),
        network: paid.network.clone(),
        amount: None,
    };
    vec![
        response.header(paid.version),
        ("Cache-Control", "no-store".into()),
    ]
}

/// The request ended; `delivered` says whether the client got a whole successful response.
pub async fn finish(
    payments: &Payments,
    snapshot: &Snapshot,
    paid: &mut PaidRequest,
    delivered: bool,
) -> bool {
    // An identifier still open: charged without its response going out (its retries get the
    // delivery), or not charged (a retry may pay), or unknown (closed until the window ends).
    if paid.payment_id.is_some() {
        match paid.state {
            PaymentState::Settled | PaymentState::Deferred => {
                let mut headers = settled_headers(paid);
                grant::after_payment(payments, snapshot, paid, &mut headers).await;
            }
            state => grant::payment_dropped(payments, paid, state == PaymentState::Unknown).await,
        }
    }
    let ledger = &payments.settlement;
    match paid.state {
        PaymentState::Verified => {
            // Verified but never settled (origin unreachable, client gone): nothing was charged.
            release(payments, paid, "released").await;
            true
        }
        PaymentState::Deferred if delivered => {
            ledger.enqueue(paid.hand_over());
            false
        }
        PaymentState::Deferred => {
            release(payments, paid, "not_delivered").await;
            true
        }
        PaymentState::Settled if !delivered => {
            tracing::warn!(payer = %paid.payer, route = %paid.route, "paid but not delivered: the same payment presented again gets its delivery");
            ledger.mark(paid, State::PaidNotDelivered, Some("not_delivered"));
            payments.metrics.payment("paid_not_delivered");
            false
        }
        _ => false,
    }
}

/// Gives the claim back and records it: nothing was charged.
async fn release(payments: &Payments, paid: &mut PaidRequest, why: &'static str) {
    let _ = payments.guard.release(&paid.key).await;
    paid.state = PaymentState::Released;
    payments.metrics.payment(why);
    payments.settlement.give_back(paid, why).await;
}

//! After the origin answers: charge only for success, and never lose a payment's fate.
//!
//! Origin status < 400 (a `101` switch included: an upgrade is a delivery) → settle (retrying once
//! on `settlement_pending`, spec §5.4) → `PAYMENT-RESPONSE`; origin status ≥ 400 → release the
//! claim, charge nothing; settlement refused → 402 instead of the origin's body. A settlement
//! whose outcome is unknown (the facilitator timed out, answered 5xx or garbage, or stayed
//! pending) may have moved the money: the client gets 503 with `Retry-After` and a reason saying
//! so, never a 402 that would invite a second payment, and the claim is kept until `validBefore`,
//! so the same authorization can never reach the origin twice. A settlement is never awaited
//! past the authorization's `validBefore` (spec §10.9): after it, the transfer can no longer land.
//! When the payment's network has an RPC (`[chains]`), the chain decides such an outcome instead:
//! `authorizationState` spent means the client gets the content it paid for; not spent within
//! `reconcile_wait` means 402. The facilitator's own error text goes to the log, never to the
//! client.

use std::time::{Duration, Instant};

use super::ctx::{Outcome, PaidRequest, PaymentState};
use super::paywall::Payments;
use crate::evm::chain::ChainReader;
use crate::facilitator::{FacilitatorError, Settler};
use crate::x402::Version;
use crate::x402::settlement::{Payment, SettleResponse};

/// What happened to a verified payment once the origin answered.
#[derive(Debug)]
pub enum SettleOutcome {
    /// Charged: send the origin's response with this `PAYMENT-RESPONSE`.
    Settled(SettleResponse),
    /// The origin failed: nothing charged, pass its response through.
    NotCharged,
    /// Settlement refused: replace the response with a 402.
    Failed(SettleResponse),
    /// The facilitator could not be reached, so nothing was sent: 503, nothing charged.
    Unavailable,
    /// The money may have moved: 503 saying so, the claim kept.
    Unknown,
}

/// Why a settled response cannot be delivered.
#[derive(Debug)]
pub enum SettleFailure {
    Refused(SettleResponse),
    Unavailable,
    Unknown,
}

impl SettleOutcome {
    /// Records the outcome on the request and returns the headers a settled response gains, or the
    /// failure to answer with instead of the origin's response.
    pub fn apply(
        self,
        version: Version,
        outcome: &mut Outcome,
    ) -> Result<Vec<(&'static str, String)>, Box<SettleFailure>> {
        match self {
            Self::Settled(r) => Ok(vec![
                r.header(version),
                ("Cache-Control", "no-store".into()),
            ]),
            Self::NotCharged => {
                *outcome = Outcome::OriginError;
                Ok(Vec::new())
            }
            Self::Failed(r) => {
                *outcome = Outcome::SettleFailed;
                Err(Box::new(SettleFailure::Refused(r)))
            }
            Self::Unavailable => {
                *outcome = Outcome::Unavailable;
                Err(Box::new(SettleFailure::Unavailable))
            }
            Self::Unknown => {
                *outcome = Outcome::SettleUnknown;
                Err(Box::new(SettleFailure::Unknown))
            }
        }
    }
}

/// Settles `paid` if the origin answered `status` successfully. With `chain` (the payment's
/// network has an RPC), an outcome the facilitator did not give is decided by the chain.
pub async fn after_origin(
    payments: &Payments,
    settler: &dyn Settler,
    chain: Option<&ChainReader>,
    paid: &mut PaidRequest,
    status: u16,
) -> SettleOutcome {
    if status >= 400 {
        release(payments, paid, "released").await;
        return SettleOutcome::NotCharged;
    }
    let deadline = Duration::from_secs(
        paid.auth
            .valid_before
            .saturating_sub(payments.clock.now_secs())
            .max(1),
    );
    let mut result = timed_settle(payments, settler, &paid.as_payment(), deadline).await;
    // A transaction the facilitator said it broadcast, for the chain check.
    let mut pending_tx = None;
    if let Ok(r) = &result
        && r.is_pending()
    {
        pending_tx = Some(r.transaction.clone()).filter(|t| !t.is_empty());
        // The facilitator reconciles an identical repeat without broadcasting again.
        result = timed_settle(payments, settler, &paid.as_payment(), deadline).await;
    }
    match result {
        Ok(mut r) if r.success => {
            paid.state = PaymentState::Settled;
            payments.metrics.payment("settled");
            r.error_message = None;
            SettleOutcome::Settled(r)
        }
        Ok(r) if r.is_pending() => {
            undecided(
                payments,
                chain,
                paid,
                pending_tx,
                "still settlement_pending",
            )
            .await
        }
        // A refusal after "pending" contradicts a broadcast: the chain decides.
        Ok(r) if pending_tx.is_some() && chain.is_some() => {
            let why = format!("refused after pending: {:?}", r.error_reason);
            undecided(payments, chain, paid, pending_tx, &why).await
        }
        Ok(mut r) => {
            // A definite refusal: the authorization was not spent, the client may present it again.
            if let Some(message) = r.error_message.take() {
                tracing::info!(payer = %paid.payer, reason = ?r.error_reason, "settlement refused: {message}");
            }
            release(payments, paid, "settle_failed").await;
            if r.payer.is_none() {
                r.payer = Some(paid.payer.clone());
            }
            if r.network.is_empty() {
                r.network.clone_from(&paid.network);
            }
            SettleOutcome::Failed(r)
        }
        Err(FacilitatorError::Unreachable(e)) => {
            // Nothing reached the facilitator, so nothing was charged.
            tracing::error!(payer = %paid.payer, "settlement not attempted: {e}");
            release(payments, paid, "settle_unavailable").await;
            SettleOutcome::Unavailable
        }
        Err(e) => undecided(payments, chain, paid, pending_tx, &e.to_string()).await,
    }
}

/// An outcome the facilitator did not give: the chain decides when it can be read, else it stays
/// unknown (503, claim kept).
async fn undecided(
    payments: &Payments,
    chain: Option<&ChainReader>,
    paid: &mut PaidRequest,
    transaction: Option<String>,
    why: &str,
) -> SettleOutcome {
    match chain {
        Some(chain) => reconcile(payments, chain, paid, transaction, why).await,
        None => unknown(payments, paid, why),
    }
}

/// How often the chain is asked while reconciling.
const RECONCILE_EVERY: Duration = Duration::from_millis(250);

/// The chain decides an outcome the facilitator did not give: `authorizationState` is re-read
/// until it shows the authorization spent (the client gets what it paid for) or `reconcile_wait`
/// (at most until `validBefore`) passes (not spent: 402; the claim is kept, so this
/// authorization never buys a delivery later).
async fn reconcile(
    payments: &Payments,
    chain: &ChainReader,
    paid: &mut PaidRequest,
    transaction: Option<String>,
    why: &str,
) -> SettleOutcome {
    tracing::warn!(payer = %paid.payer, "settlement outcome unknown ({why}): asking the chain");
    let left = paid
        .auth
        .valid_before
        .saturating_sub(payments.clock.now_secs());
    let wait = chain
        .settings()
        .reconcile_wait
        .min(Duration::from_secs(left));
    let started = Instant::now();
    loop {
        match chain
            .is_spent(paid.key.asset, paid.key.payer, paid.key.nonce)
            .await
        {
            Ok(true) => {
                paid.state = PaymentState::Settled;
                payments.metrics.payment("settled_by_chain");
                return SettleOutcome::Settled(SettleResponse {
                    success: true,
                    error_reason: None,
                    error_message: None,
                    payer: Some(paid.payer.clone()),
                    transaction: transaction.unwrap_or_default(),
                    network: paid.network.clone(),
                    amount: None,
                });
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("reconciling a settlement: {e}"),
        }
        if started.elapsed() >= wait {
            break;
        }
        tokio::time::sleep(RECONCILE_EVERY.min(wait.saturating_sub(started.elapsed()))).await;
    }
    paid.state = PaymentState::Unknown;
    payments.metrics.payment("not_spent");
    SettleOutcome::Failed(SettleResponse::failure(
        "settlement_not_confirmed",
        None,
        &paid.network,
        &paid.payer,
    ))
}

/// Gives the claim back: nothing was charged.
async fn release(payments: &Payments, paid: &mut PaidRequest, event: &str) {
    let _ = payments.guard.release(&paid.key).await;
    paid.state = PaymentState::Released;
    payments.metrics.payment(event);
}

/// The outcome is unknown: keep the claim (a hidden broadcast may still land).
fn unknown(payments: &Payments, paid: &mut PaidRequest, why: &str) -> SettleOutcome {
    tracing::error!(payer = %paid.payer, "settlement outcome unknown, claim kept: {why}");
    paid.state = PaymentState::Unknown;
    payments.metrics.payment("settle_unknown");
    SettleOutcome::Unknown
}

async fn timed_settle(
    payments: &Payments,
    settler: &dyn Settler,
    payment: &Payment<'_>,
    deadline: Duration,
) -> Result<SettleResponse, FacilitatorError> {
    let started = Instant::now();
    let result = tokio::time::timeout(deadline, settler.settle(payment))
        .await
        .unwrap_or_else(|_| {
            Err(FacilitatorError::NoAnswer(
                "no settlement before the authorization's validBefore".into(),
            ))
        });
    let label = match &result {
        Ok(r) if r.success => "ok",
        Ok(_) => "invalid",
        Err(_) => "error",
    };
    payments
        .metrics
        .facilitator("settle", label, started.elapsed().as_secs_f64());
    result
}

#[cfg(test)]
mod tests;

//! After the origin answers: charge only for success, and never lose a payment's fate.
//!
//! Origin status < 400 → settle (retrying once on `settlement_pending`, spec §5.4) → `PAYMENT-RESPONSE`;
//! origin status ≥ 400 → release the claim, charge nothing; settlement refused → 402 instead of the
//! origin's body. A settlement whose outcome is unknown keeps its claim until `validBefore`, so the
//! same authorization can never reach the origin twice. A settlement is never awaited past the
//! authorization's `validBefore` (spec §10.9): after it, the transfer can no longer land.

use std::time::{Duration, Instant};

use super::ctx::{Outcome, PaidRequest, PaymentState};
use super::paywall::Payments;
use crate::facilitator::{FacilitatorError, Settler};
use crate::x402::Version;
use crate::x402::settlement::{FacilitatorRequest, SettleResponse};

/// What happened to a verified payment once the origin answered.
#[derive(Debug)]
pub enum SettleOutcome {
    /// Charged: send the origin's response with this `PAYMENT-RESPONSE`.
    Settled(SettleResponse),
    /// The origin failed: nothing charged, pass its response through.
    NotCharged,
    /// Settlement refused or its outcome unknown: replace the response with a 402.
    Failed(SettleResponse),
}

impl SettleOutcome {
    /// Records the outcome on the request and returns the headers a settled response gains, or the
    /// settlement failure to answer with instead of the origin's response.
    pub fn apply(
        self,
        version: Version,
        outcome: &mut Outcome,
    ) -> Result<Vec<(&'static str, String)>, Box<SettleResponse>> {
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
                Err(Box::new(r))
            }
        }
    }
}

/// Settles `paid` if the origin answered `status` successfully.
pub async fn after_origin(
    payments: &Payments,
    settler: &dyn Settler,
    paid: &mut PaidRequest,
    status: u16,
) -> SettleOutcome {
    if status >= 400 {
        let _ = payments.guard.release(&paid.key).await;
        paid.state = PaymentState::Released;
        payments.metrics.payment("released");
        return SettleOutcome::NotCharged;
    }
    let request = FacilitatorRequest {
        x402_version: paid.version.number(),
        payment_payload: &paid.payload,
        payment_requirements: &paid.requirements,
    };
    let deadline = Duration::from_secs(
        paid.valid_before
            .saturating_sub(payments.clock.now_secs())
            .max(1),
    );
    let mut result = timed_settle(payments, settler, &request, deadline).await;
    if matches!(&result, Ok(r) if r.is_pending()) {
        // The facilitator reconciles an identical repeat without broadcasting again.
        result = timed_settle(payments, settler, &request, deadline).await;
    }
    match result {
        Ok(r) if r.success => {
            paid.state = PaymentState::Settled;
            payments.metrics.payment("settled");
            SettleOutcome::Settled(r)
        }
        Ok(r) if r.is_pending() => {
            paid.state = PaymentState::Unknown;
            payments.metrics.payment("settle_failed");
            SettleOutcome::Failed(r)
        }
        Ok(mut r) => {
            // A definite refusal: the authorization was not spent, the client may present it again.
            let _ = payments.guard.release(&paid.key).await;
            paid.state = PaymentState::Released;
            payments.metrics.payment("settle_failed");
            if r.payer.is_none() {
                r.payer = Some(paid.payer.clone());
            }
            if r.network.is_empty() {
                r.network.clone_from(&paid.network);
            }
            SettleOutcome::Failed(r)
        }
        Err(e) => {
            // A timeout may hide a broadcast transaction: keep the claim.
            paid.state = PaymentState::Unknown;
            payments.metrics.payment("settle_failed");
            let reason = match e {
                FacilitatorError::Unreachable(_) => "facilitator_unavailable",
                FacilitatorError::BadResponse { .. } => "unexpected_settle_error",
            };
            tracing::error!(payer = %paid.payer, "settlement failed: {e}");
            SettleOutcome::Failed(SettleResponse::failure(
                reason,
                Some(e.to_string()),
                &paid.network,
                &paid.payer,
            ))
        }
    }
}

async fn timed_settle(
    payments: &Payments,
    settler: &dyn Settler,
    request: &FacilitatorRequest<'_>,
    deadline: Duration,
) -> Result<SettleResponse, FacilitatorError> {
    let started = Instant::now();
    let result = tokio::time::timeout(deadline, settler.settle(request))
        .await
        .unwrap_or_else(|_| {
            Err(FacilitatorError::Unreachable(
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

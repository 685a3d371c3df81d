//! The paywall decision for a priced route: challenge, reject, or accept a payment (spec §4.5, §10).
//!
//! Plan: 1. read `PAYMENT-SIGNATURE`, else `X-PAYMENT`; 2. decode (size-capped); 3. match it against
//! the route's precomputed requirements; 4. run the local `exact` checks; 5. claim it for single use
//! (network, asset, payer, nonce) so concurrent copies lose; 6. ask the verifier, at most
//! `max_verifications_per_ip` at a time per client (429 beyond: a flood of forged payments cannot
//! spend the operator's facilitator quota without bound). Any failure after the claim gives the
//! claim back. Knows nothing of Pingora: the proxy hands it header bytes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::Address;

use super::ctx::{PaidRequest, PaymentState};
use crate::admin::Metrics;
use crate::clock::Clock;
use crate::evm::{ExactAuthorization, exact};
use crate::facilitator::FacilitatorError;
use crate::price::Network;
use crate::snapshot::Snapshot;
use crate::store::{InFlight, PaymentKey, ReplayGuard};
use crate::x402::challenge::{Challenge, Offer};
use crate::x402::reason::Rejection;
use crate::x402::settlement::FacilitatorRequest;
use crate::x402::{HeaderError, PaymentHeader, decode_payment_header};

/// What to do with a request to a priced route.
#[derive(Debug)]
pub enum Verdict {
    /// Answer 402 with the challenge and this reason.
    Challenge(Rejection),
    /// Paid and verified: forward.
    Paid(Box<PaidRequest>),
    /// The payment header is larger than allowed (431).
    TooLarge { len: usize, max: usize },
    /// The verifier could not be asked (503): the route stays closed.
    Unavailable(FacilitatorError),
    /// This client already has `max_verifications_per_ip` verifications in flight (429).
    TooManyVerifications,
}

/// The long-lived parts the decision needs.
pub struct Payments {
    pub guard: Arc<dyn ReplayGuard>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Verifications in flight per client IP.
    pub verifications: InFlight<IpAddr>,
}

/// What a request presents to a priced route.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// Raw `PAYMENT-SIGNATURE` value.
    pub signature: Option<&'a [u8]>,
    /// Raw `X-PAYMENT` value.
    pub x_payment: Option<&'a [u8]>,
    pub resource_url: &'a str,
    /// Whom the per-client verification limit counts.
    pub client_ip: Option<IpAddr>,
}

/// Decides a request to a priced route.
pub async fn decide(
    payments: &Payments,
    snapshot: &Snapshot,
    challenge: &Challenge,
    presented: &Presented<'_>,
) -> Verdict {
    // 1.
    let Some(raw) = presented.signature.or(presented.x_payment) else {
        return Verdict::Challenge(Rejection::PaymentRequired);
    };
    let resource_url = presented.resource_url;
    // 2.
    let header = match decode_payment_header(raw, snapshot.max_payment_header_bytes) {
        Ok(h) => h,
        Err(HeaderError::TooLarge { len, max }) => return Verdict::TooLarge { len, max },
        Err(e) => return Verdict::Challenge(e.into()),
    };
    // 3.
    let Some((offer, requirements)) = match_offer(challenge, &header, resource_url) else {
        return Verdict::Challenge(Rejection::NoMatchingRequirements);
    };
    // 4.
    let auth = match ExactAuthorization::from_payload(header.scheme_payload()) {
        Ok(a) => a,
        Err(e) => return Verdict::Challenge(e.into()),
    };
    let now = payments.clock.now_secs();
    if let Err(e) = exact::check(&auth, &offer.expected, now) {
        return Verdict::Challenge(e.into());
    }
    // 6 (its permit first, so a client over its limit claims nothing).
    let client = presented
        .client_ip
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let Some(_permit) = payments
        .verifications
        .try_acquire(&client, snapshot.max_verifications_per_ip)
    else {
        payments.metrics.payment("verify_limited");
        return Verdict::TooManyVerifications;
    };
    // 5.
    let network = Network::parse(&offer.v2.network)
        .map(|n| n.chain_id)
        .unwrap_or(0);
    let key = PaymentKey {
        chain_id: network,
        asset: offer.v2.asset.parse().unwrap_or(Address::ZERO),
        payer: auth.from,
        nonce: auth.nonce,
    };
    match payments.guard.claim(&key, auth.valid_before, now).await {
        Ok(true) => {}
        Ok(false) => return Verdict::Challenge(Rejection::AlreadyUsed),
        Err(e) => return Verdict::Unavailable(FacilitatorError::Unreachable(e.to_string())),
    }
    // 6.
    let request = FacilitatorRequest {
        x402_version: header.version().number(),
        payment_payload: header.raw(),
        payment_requirements: &requirements,
    };
    let started = Instant::now();
    let verdict = snapshot.verifier.verify(&request).await;
    let seconds = started.elapsed().as_secs_f64();
    match verdict {
        Ok(v) if v.is_valid => {
            payments.metrics.facilitator("verify", "ok", seconds);
            payments.metrics.payment("verified");
            Verdict::Paid(Box::new(PaidRequest {
                key,
                version: header.version(),
                payer: auth.from.to_checksum(None),
                amount: offer.v2.amount.clone(),
                network: offer.v2.network.clone(),
                asset: offer.v2.asset.clone(),
                payload: header.raw().clone(),
                requirements,
                valid_before: auth.valid_before,
                state: PaymentState::Verified,
            }))
        }
        Ok(v) => {
            payments.metrics.facilitator("verify", "invalid", seconds);
            payments.metrics.payment("invalid");
            let _ = payments.guard.release(&key).await;
            Verdict::Challenge(Rejection::Invalid {
                reason: v.invalid_reason.unwrap_or_else(|| "invalid_payment".into()),
                message: v.invalid_message,
            })
        }
        Err(e) => {
            payments.metrics.facilitator("verify", "error", seconds);
            let _ = payments.guard.release(&key).await;
            Verdict::Unavailable(e)
        }
    }
}

/// The offer a payment names, with the requirement JSON to send the facilitator in its version.
fn match_offer<'c>(
    challenge: &'c Challenge,
    header: &PaymentHeader,
    resource_url: &str,
) -> Option<(&'c Offer, serde_json::Value)> {
    match header {
        PaymentHeader::V2 { payload, .. } => challenge
            .match_v2(&payload.accepted)
            .map(|o| (o, o.v2_json.clone())),
        PaymentHeader::V1 { payload, .. } => challenge
            .match_v1(&payload.scheme, &payload.network)
            .map(|o| (o, challenge.v1_requirement_json(o, resource_url))),
    }
}

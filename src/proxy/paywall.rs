//! The paywall decision for a priced route: challenge, reject, or accept a payment (spec §4.5, §10).
//!
//! Plan: 1. read `PAYMENT-SIGNATURE`, else `X-PAYMENT`; 2. decode (size-capped); 3. match it against
//! the route's precomputed requirements; 4. run the local `exact` checks; 5. claim it for single use
//! (network, asset, payer, nonce) so concurrent copies lose; 6. ask the verifier, at most
//! `max_verifications_per_ip` at a time per client (429 beyond: a flood of forged payments cannot
//! spend the operator's facilitator quota without bound). On a network with an RPC (`[chains]`),
//! step 6 is local instead: nonce unused and balance sufficient on chain, no facilitator call.
//! On a `background` route whose payer is within their unsettled cap, step 6 checks only the
//! (cached) balance: the nonce is left to the settlement step, and what a payer can owe is
//! bounded by the cap. A payment that loses the claim comes back as [`Verdict::Used`], so the
//! caller can hand a paid-but-not-delivered payment its one delivery.
//! Any failure after the claim gives the claim back. Knows nothing of Pingora: the proxy hands it header bytes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::Address;

use super::ctx::{PaidRequest, PaymentState};
use super::grant::{self, Grant, IdRefusal};
use crate::admin::Metrics;
use crate::clock::Clock;
use crate::evm::chain::{ChainError, ChainReader, ChainVerdict, NonceRead, Reservation};
use crate::evm::exact::ExactError;
use crate::evm::{ExactAuthorization, exact};
use crate::facilitator::FacilitatorError;
use crate::price::Network;
use crate::settlement::{OwedHold, Settlement};
use crate::snapshot::{Route, SettlePolicy, Snapshot};
use crate::store::{AccessState, InFlight, MemoryAccessState, PaymentKey, ReplayGuard};
use crate::x402::challenge::{Challenge, Offer};
use crate::x402::reason::Rejection;
use crate::x402::settlement::Payment;
use crate::x402::{HeaderError, PaymentHeader, SharedJson, decode_payment_header};

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
    /// Local verification could not read the chain (503): the route stays closed.
    ChainUnavailable(ChainError),
    /// Well formed and well signed, but claimed already (replayed, or paid and not delivered).
    Used(Box<PaidRequest>),
    /// The ledger could not record the payment (503): refused before anything is forwarded.
    LedgerUnavailable,
    /// A retry under a payment identifier whose first payment was charged: forward, charge
    /// nothing (the re-signed authorization is never settled).
    Granted(Box<Grant>),
    /// Refused for its payment identifier (400, 409).
    Identifier(IdRefusal),
}

/// The long-lived parts the decision needs.
pub struct Payments {
    pub guard: Arc<dyn ReplayGuard>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Verifications in flight per client IP.
    pub verifications: InFlight<IpAddr>,
    /// Durable record of every accepted payment, and the background settlement queue.
    pub settlement: Arc<Settlement>,
    /// Pass uses, redeemed sign-in nonces, payment identifiers.
    pub access: Arc<dyn AccessState>,
    /// The toll booth's caches and tabs.
    pub toll: Arc<super::toll::TollState>,
}

impl Payments {
    /// Payments without a ledger (tests, and `[ledger] enabled = false`).
    pub fn new(guard: Arc<dyn ReplayGuard>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self {
            guard,
            clock,
            metrics,
            verifications: InFlight::new(),
            settlement: Arc::new(Settlement::without_ledger()),
            access: Arc::new(MemoryAccessState::new()),
            toll: Arc::new(super::toll::TollState::none()),
        }
    }
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
    /// Method, URL and body digest, on a route that takes payment identifiers.
    pub fingerprint: Option<[u8; 32]>,
}

/// Decides a request to a priced route.
pub async fn decide(
    payments: &Payments,
    snapshot: &Snapshot,
    route: &Route,
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
    // 4b. A payment identifier seen before: its first outcome, or a refusal.
    let fingerprint = presented.fingerprint;
    let payment_id =
        match grant::identify(payments, route, header.raw(), &auth, fingerprint, now).await {
            Ok(id) => id,
            Err(verdict) => return verdict,
        };
    let key = PaymentKey {
        chain_id: Network::parse(&offer.v2.network).map_or(0, |n| n.chain_id),
        asset: offer.v2.asset.parse().unwrap_or(Address::ZERO),
        payer: auth.from,
        nonce: auth.nonce,
    };
    // Background settlement, while the payer owes less than the cap; the hold ends with the
    // payment's settlement.
    let owed = (route.settle == SettlePolicy::Background && payments.settlement.has_ledger())
        .then(|| {
            let debtor = (key.chain_id, key.asset, key.payer);
            payments
                .settlement
                .owed
                .try_hold(debtor, auth.value, offer.max_unsettled)
        })
        .flatten();
    let accepted = Accepted {
        key,
        header: &header,
        offer,
        auth,
        requirements,
        now,
        route,
        owed,
    };
    // 5-6. A 65-byte signature was checked above; with the chain at hand, nothing is left for the
    // facilitator to verify. Smart-wallet signatures and chains without an RPC go to it.
    let mut verdict = match snapshot.chains.get(&accepted.key.chain_id) {
        Some(chain) if accepted.auth.signature.len() == 65 => {
            on_chain(payments, chain, accepted).await
        }
        _ => with_facilitator(payments, snapshot, presented, accepted).await,
    };
    match &mut verdict {
        Verdict::Paid(paid) => paid.payment_id = payment_id,
        _ => {
            if let Some(id) = payment_id {
                payments.access.abort_idempotent(id).await;
            }
        }
    }
    verdict
}

/// A payment that passed the local checks, on its way to the verifier.
struct Accepted<'a> {
    key: PaymentKey,
    header: &'a PaymentHeader,
    offer: &'a Offer,
    auth: ExactAuthorization,
    requirements: SharedJson,
    now: u64,
    route: &'a Route,
    /// Held when the payment settles in the background.
    owed: Option<OwedHold>,
}

impl Accepted<'_> {
    /// Step 5: claims the payment for single use; concurrent copies lose (and come back as
    /// `Used`, for the paid-not-delivered check).
    async fn claim(self, payments: &Payments) -> Result<Self, Verdict> {
        match payments
            .guard
            .claim(&self.key, self.auth.valid_before, self.now)
            .await
        {
            Ok(true) => Ok(self),
            Ok(false) => Err(Verdict::Used(self.into_paid(None))),
            Err(e) => Err(Verdict::Unavailable(FacilitatorError::Unreachable(
                e.to_string(),
            ))),
        }
    }

    fn paid(self, hold: Option<Reservation>) -> Verdict {
        Verdict::Paid(self.into_paid(hold))
    }

    fn into_paid(self, hold: Option<Reservation>) -> Box<PaidRequest> {
        let policy = match (self.route.settle, &self.owed) {
            (SettlePolicy::Background, None) => SettlePolicy::After,
            (policy, _) => policy,
        };
        Box::new(PaidRequest {
            key: self.key,
            version: self.header.version(),
            payer: self.auth.from.to_checksum(None),
            amount: self.offer.v2.amount.clone(),
            network: self.offer.v2.network.clone(),
            asset: self.offer.v2.asset.clone(),
            payload: self.header.raw().clone(),
            requirements: self.requirements,
            state: PaymentState::Verified,
            hold: hold.map(Arc::new),
            auth: self.auth,
            route: self.route.name.clone(),
            policy,
            owed: self.owed.map(Arc::new),
            transaction: None,
            accepted_ms: crate::clock::unix_millis(),
            pass: self.route.pass.clone(),
            payment_id: None,
        })
    }
}

/// Step 6, local: nonce unused and balance sufficient on chain (cached, in-flight payments
/// reserved). No facilitator call.
async fn on_chain(payments: &Payments, chain: &ChainReader, accepted: Accepted<'_>) -> Verdict {
    let accepted = match accepted.claim(payments).await {
        Ok(a) => a,
        Err(v) => return v,
    };
    let (auth, asset) = (&accepted.auth, accepted.key.asset);
    let read = match accepted.owed {
        Some(_) => NonceRead::Deferred,
        None => NonceRead::Now,
    };
    match chain
        .check(asset, auth.from, auth.nonce, auth.value, read)
        .await
    {
        Ok(ChainVerdict::Payable(hold)) => {
            payments.metrics.payment("verified_local");
            accepted.paid(Some(hold))
        }
        // Spent on chain: it can never settle, so the claim may as well stay.
        Ok(ChainVerdict::NonceUsed) => Verdict::Challenge(ExactError::NonceUsed.into()),
        Ok(ChainVerdict::InsufficientBalance) => {
            let _ = payments.guard.release(&accepted.key).await;
            payments.metrics.payment("invalid");
            Verdict::Challenge(ExactError::InsufficientBalance.into())
        }
        Err(e) => {
            let _ = payments.guard.release(&accepted.key).await;
            Verdict::ChainUnavailable(e)
        }
    }
}

/// Step 6, remote: the facilitator's `/verify`, at most `max_verifications_per_ip` at a time per
/// client.
async fn with_facilitator(
    payments: &Payments,
    snapshot: &Snapshot,
    presented: &Presented<'_>,
    accepted: Accepted<'_>,
) -> Verdict {
    // The permit first, so a client over its limit claims nothing.
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
    let accepted = match accepted.claim(payments).await {
        Ok(a) => a,
        Err(v) => return v,
    };
    let payment = Payment {
        version: accepted.header.version(),
        network: &accepted.offer.v2.network,
        token: accepted.key.asset,
        auth: &accepted.auth,
        payload: accepted.header.raw(),
        requirements: &accepted.requirements,
    };
    let started = Instant::now();
    let verdict = snapshot.verifier.verify(&payment).await;
    let seconds = started.elapsed().as_secs_f64();
    match verdict {
        Ok(v) if v.is_valid => {
            payments.metrics.facilitator("verify", "ok", seconds);
            payments.metrics.payment("verified");
            accepted.paid(None)
        }
        Ok(v) => {
            payments.metrics.facilitator("verify", "invalid", seconds);
            payments.metrics.payment("invalid");
            let _ = payments.guard.release(&accepted.key).await;
            Verdict::Challenge(Rejection::Invalid {
                reason: v.invalid_reason.unwrap_or_else(|| "invalid_payment".into()),
                message: v.invalid_message,
            })
        }
        Err(e) => {
            payments.metrics.facilitator("verify", "error", seconds);
            let _ = payments.guard.release(&accepted.key).await;
            Verdict::Unavailable(e)
        }
    }
}

/// The offer a payment names, with the requirement JSON to send the facilitator in its version.
fn match_offer<'c>(
    challenge: &'c Challenge,
    header: &PaymentHeader,
    resource_url: &str,
) -> Option<(&'c Offer, SharedJson)> {
    match header {
        PaymentHeader::V2 { payload, .. } => challenge
            .match_v2(&payload.accepted)
            .map(|o| (o, o.v2_json.clone())),
        PaymentHeader::V1 { payload, .. } => challenge
            .match_v1(&payload.scheme, &payload.network)
            .map(|o| (o, challenge.v1_requirement_json(o, resource_url))),
    }
}

//! Per-request state carried across the Pingora phases.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::grant::Grant;
use super::settle::SettleFailure;
use crate::evm::ExactAuthorization;
use crate::settlement::OwedHold;
use crate::snapshot::{Origin, PassOffer, Route, SettlePolicy, Snapshot};
use crate::store::PaymentKey;
use crate::x402::{SharedJson, Version};

/// How a request ended, for metrics and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not decided yet (the request failed before a decision).
    Pending,
    NoRoute,
    Free,
    Preflight,
    /// A 402 challenge or rejection was sent; the label says why.
    Challenged(&'static str),
    /// Verified and forwarded; settled if the origin succeeded.
    Paid,
    /// Verified, but the origin failed: nothing charged.
    OriginError,
    /// Verified, origin succeeded, settlement failed: the client got a 402.
    SettleFailed,
    /// The facilitator could not be reached: 503.
    Unavailable,
    /// Settlement outcome unknown (the money may have moved): 503, the claim kept.
    SettleUnknown,
    /// Too many verifications in flight for this client: 429.
    Limited,
    /// A request the gateway refused as malformed (400, 431).
    BadRequest,
    /// Let through without a fresh charge: a pass, a sign-in, or an idempotent replay.
    Granted(&'static str),
    /// Refused for its payment identifier (400, 409).
    Identifier(&'static str),
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "error",
            Self::NoRoute => "no_route",
            Self::Free => "free",
            Self::Preflight => "preflight",
            Self::Challenged(label) => label,
            Self::Paid => "paid",
            Self::OriginError => "origin_error",
            Self::SettleFailed => "settle_failed",
            Self::Unavailable => "unavailable",
            Self::SettleUnknown => "settle_unknown",
            Self::Limited => "limited",
            Self::BadRequest => "bad_request",
            Self::Granted(label) => label,
            Self::Identifier(label) => label,
        }
    }
}

/// Where a verified payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Verified and claimed; not yet charged.
    Verified,
    /// Settled on chain.
    Settled,
    /// Given back: not charged.
    Released,
    /// Outcome unknown (settlement pending or its answer lost): the claim is kept.
    Unknown,
    /// `settle = "background"`: forwarded and recorded as owed; the ledger settles it once the
    /// response has been delivered.
    Deferred,
}

/// A verified payment travelling with its request.
#[derive(Debug, Clone)]
pub struct PaidRequest {
    pub key: PaymentKey,
    pub version: Version,
    /// Checksummed payer address.
    pub payer: String,
    pub amount: String,
    /// CAIP-2 network.
    pub network: String,
    pub asset: String,
    /// Exactly what the client sent, for the facilitator.
    pub payload: SharedJson,
    /// The matched requirement in the payload's protocol version.
    pub requirements: SharedJson,
    pub state: PaymentState,
    /// Under local verification: the value held against the payer's balance until the payment
    /// is settled (or given back).
    pub hold: Option<Arc<crate::evm::chain::Reservation>>,
    /// The signed authorization, decoded once (after its `valid_before` a settlement cannot land).
    pub auth: ExactAuthorization,
    /// The route's name (for the ledger).
    pub route: String,
    /// When this payment is settled: the route's policy, or `After` for a `background` route
    /// whose payer is over their unsettled cap.
    pub policy: SettlePolicy,
    /// Under `background`: this payment's value counted as owed by its payer until settled.
    pub owed: Option<Arc<OwedHold>>,
    /// The settlement transaction, once known.
    pub transaction: Option<String>,
    /// Unix milliseconds when the payment was accepted.
    pub accepted_ms: u64,
    /// The pass its route sells with it, issued once it is charged (or owed).
    pub pass: Option<PassOffer>,
    /// Its `payment-identifier` (digest), whose first outcome it will record.
    pub payment_id: Option<[u8; 16]>,
}

impl PaidRequest {
    /// Moves the payment out (for its settlement after the request), leaving behind what the
    /// end of the request still reads (payer, amount, route), marked handed over: the payload
    /// and requirements are shared (reference counted), not copied, on the request path.
    pub fn hand_over(&mut self) -> PaidRequest {
        let left = PaidRequest {
            key: self.key.clone(),
            version: self.version,
            payer: self.payer.clone(),
            amount: self.amount.clone(),
            network: self.network.clone(),
            asset: self.asset.clone(),
            payload: self.payload.clone(),
            requirements: self.requirements.clone(),
            state: PaymentState::Released,
            hold: None,
            auth: self.auth.clone(),
            route: self.route.clone(),
            policy: self.policy,
            owed: None,
            transaction: None,
            accepted_ms: self.accepted_ms,
            pass: None,
            payment_id: None,
        };
        std::mem::replace(self, left)
    }

    /// The payment as verifiers and settlers take it.
    pub fn as_payment(&self) -> crate::x402::settlement::Payment<'_> {
        crate::x402::settlement::Payment {
            version: self.version,
            network: &self.network,
            token: self.key.asset,
            auth: &self.auth,
            payload: &self.payload,
            requirements: &self.requirements,
        }
    }

    /// The payment's id in the ledger (its key's digest, hex).
    pub fn ledger_id(&self) -> String {
        alloy_primitives::hex::encode(self.key.digest())
    }

    /// A verified `after` payment of 1000 units on Base Sepolia, for tests.
    #[cfg(test)]
    pub(crate) fn sample(valid_before: u64) -> PaidRequest {
        use alloy_primitives::{Address, B256, U256};
        PaidRequest {
            key: PaymentKey {
                chain_id: 84532,
                asset: Address::repeat_byte(1),
                payer: Address::repeat_byte(2),
                nonce: B256::repeat_byte(3),
            },
            version: Version::V2,
            payer: Address::repeat_byte(2).to_checksum(None),
            amount: "1000".into(),
            network: "eip155:84532".into(),
            asset: Address::repeat_byte(1).to_checksum(None),
            payload: SharedJson::from_value(serde_json::json!({})),
            requirements: SharedJson::from_value(serde_json::json!({})),
            state: PaymentState::Verified,
            hold: None,
            auth: ExactAuthorization {
                from: Address::repeat_byte(2),
                to: Address::repeat_byte(4),
                value: U256::from(1000),
                valid_after: 0,
                valid_before,
                nonce: B256::repeat_byte(3),
                signature: vec![0; 65],
            },
            route: "test".into(),
            policy: SettlePolicy::After,
            owed: None,
            transaction: None,
            accepted_ms: 0,
            pass: None,
            payment_id: None,
        }
    }
}

/// The context of one request.
pub struct RequestCtx {
    pub started: Instant,
    pub snapshot: Option<Arc<Snapshot>>,
    pub route: Option<Arc<Route>>,
    pub origin: Option<Arc<Origin>>,
    pub client_ip: Option<IpAddr>,
    /// The URL named as `resource.url`.
    pub resource_url: String,
    pub payment: Option<PaidRequest>,
    /// Let through without a fresh charge (pass, sign-in, idempotent replay).
    pub grant: Option<Grant>,
    /// Set when settlement failed and the origin's response must be replaced (402 or 503).
    pub settle_failure: Option<SettleFailure>,
    pub outcome: Outcome,
    /// `X-Forwarded-*` values for the origin.
    pub forwarded: super::request::Forwarded,
    /// The normalized path the route was matched on, when it differs from the request's: the
    /// origin gets this one, so it serves exactly what was priced.
    pub normalized_path: Option<String>,
    /// The absolute-form target's authority: the origin gets it as `Host`.
    pub absolute_authority: Option<String>,
    /// What the toll booth decided, when it is on.
    pub toll: Option<super::toll::TollCtx>,
    /// The offers a crawler was charged at (the toll price), instead of the route's.
    pub toll_challenge: Option<Arc<crate::x402::challenge::Challenge>>,
    /// An answer that replaces the origin's (a refused in-band price, an unwritable tab line).
    pub failure_reply: Option<super::respond::Reply>,
    /// A tab batch's invoice being paid (`invoice.rs`).
    pub invoice: Option<super::invoice::InvoiceCtx>,
}

impl RequestCtx {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            snapshot: None,
            route: None,
            origin: None,
            client_ip: None,
            resource_url: String::new(),
            payment: None,
            grant: None,
            settle_failure: None,
            outcome: Outcome::Pending,
            forwarded: Default::default(),
            normalized_path: None,
            absolute_authority: None,
            toll: None,
            toll_challenge: None,
            invoice: None,
            failure_reply: None,
        }
    }

    /// The offers this request was asked to pay: the toll price's, else the route's.
    pub fn challenge(&self) -> Option<&crate::x402::challenge::Challenge> {
        if let Some(c) = self.toll_challenge.as_deref() {
            return Some(c);
        }
        match self.route.as_ref().map(|r| &r.pricing) {
            Some(crate::snapshot::Pricing::Paid(c)) => Some(c),
            _ => None,
        }
    }

    /// The route's name for metrics and logs.
    pub fn route_label(&self) -> &str {
        self.route.as_ref().map_or("-", |r| r.name.as_str())
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}

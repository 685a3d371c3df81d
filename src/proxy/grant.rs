//! Access without a fresh payment, on the request path: a valid pass (one of its uses), then a
//! sign-in by a wallet the ledger says paid this route; a retry under a `payment-identifier`
//! whose first payment was charged; and what a charged payment leaves behind (its pass, and the
//! outcome its retries get).
//!
//! Precedence on a priced route: a valid pass, then a valid sign-in, then a payment. A refused
//! pass or sign-in without a payment gets the route's 402 with the refusal as its reason.

use alloy_primitives::Address;

use super::ctx::PaidRequest;
use super::paywall::{Payments, Verdict};
use super::request::RequestFacts;
use crate::access::pass::{self, PassClaims, PassError};
use crate::access::payment_id;
use crate::access::siwx::{self, Expect, SignInError};
use crate::clock::UnixSecs;
use crate::evm::ExactAuthorization;
use crate::snapshot::{Route, Snapshot};
use crate::store::{FirstOutcome, Idempotent, PassUse};
use crate::x402::challenge::{Challenge, authority};

/// The response header that carries an issued pass.
pub const PASS_HEADER: &str = "X402-Pass";

/// How a request was let through without being charged now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    Pass,
    SignIn,
    /// A retry of a payment identifier whose first payment was charged.
    Replay,
}

impl GrantKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::SignIn => "sign_in",
            Self::Replay => "replay",
        }
    }
}

/// A request let through without a fresh charge.
#[derive(Debug, Clone)]
pub struct Grant {
    pub kind: GrantKind,
    /// Checksummed wallet, for the origin's `X402-Payer`.
    pub payer: String,
    /// The pass whose use was taken (given back if the request is not delivered).
    pub pass: Option<[u8; 16]>,
    /// Headers the response gets (a replay's first `PAYMENT-RESPONSE`).
    pub headers: Vec<(&'static str, String)>,
}

impl Grant {
    fn new(kind: GrantKind, payer: Address) -> Self {
        Self {
            kind,
            payer: payer.to_checksum(None),
            pass: None,
            headers: Vec::new(),
        }
    }
}

/// A pass or sign-in, or why the one presented was refused (its 402 reason).
pub(super) async fn before_payment(
    payments: &Payments,
    snapshot: &Snapshot,
    route: &Route,
    challenge: &Challenge,
    facts: &RequestFacts,
) -> Result<Option<Grant>, &'static str> {
    let now = payments.clock.now_secs();
    let metrics = &payments.metrics;
    let pass_refused = match by_pass(payments, snapshot, route, facts, now).await {
        Ok(Some(grant)) => {
            metrics.pass_checks.with_label_values(&["hit"]).inc();
            return Ok(Some(grant));
        }
        Ok(None) => None,
        Err(e) => {
            metrics.pass_checks.with_label_values(&[e.label()]).inc();
            Some(e.label())
        }
    };
    match by_sign_in(payments, route, challenge, facts, now).await {
        Ok(Some(grant)) => {
            metrics.sign_ins.with_label_values(&["ok"]).inc();
            Ok(Some(grant))
        }
        Err(e) => {
            metrics.sign_ins.with_label_values(&[e.reason()]).inc();
            Err(e.reason())
        }
        Ok(None) => pass_refused.map_or(Ok(None), Err),
    }
}

/// The first pass presented that is valid, in scope and has a use left. In scope: the request
/// falls in the pass's host + path scope **and** its route sells passes of that same scope, so a
/// pass never opens another route that happens to lie under its pattern (a dearer
/// `/docs/premium/**` listed before `/docs/**`) unless that route says it sells the same pass.
async fn by_pass(
    payments: &Payments,
    snapshot: &Snapshot,
    route: &Route,
    facts: &RequestFacts,
    now: UnixSecs,
) -> Result<Option<Grant>, PassError> {
    if facts.passes.is_empty() {
        return Ok(None);
    }
    let access = &snapshot.access;
    let Some(keys) = &access.keys else {
        return Err(PassError::RetiredKey);
    };
    let mut refusal = PassError::Malformed;
    for token in &facts.passes {
        let claims = match pass::verify(keys, token, now) {
            Ok(c) => c,
            Err(e) => {
                refusal = e;
                continue;
            }
        };
        let sold_here = route.pass.as_ref().is_some_and(|p| p.scope == claims.scope);
        let in_scope = sold_here
            && access
                .scopes
                .get(&claims.scope)
                .is_some_and(|s| s.covers(&facts.method, &facts.host, &facts.path));
        if !in_scope {
            refusal = PassError::OutOfScope;
            continue;
        }
        match payments
            .access
            .take_use(claims.id, claims.uses, claims.expires_at)
            .await
        {
            Ok(PassUse::Granted { .. }) => {
                let mut grant = Grant::new(GrantKind::Pass, claims.payer);
                grant.pass = Some(claims.id);
                return Ok(Some(grant));
            }
            Ok(PassUse::Exhausted) => refusal = PassError::Exhausted,
            Ok(PassUse::Revoked) => refusal = PassError::Revoked,
            Err(e) => {
                tracing::warn!("pass use could not be counted: {e}");
                refusal = PassError::Unavailable;
            }
        }
    }
    Err(refusal)
}

/// A valid `SIGN-IN-WITH-X` from a wallet with a payment on this route within the window; its
/// nonce is redeemed last, so only a sign-in that is let through spends it.
async fn by_sign_in(
    payments: &Payments,
    route: &Route,
    challenge: &Challenge,
    facts: &RequestFacts,
    now: UnixSecs,
) -> Result<Option<Grant>, SignInError> {
    // Checked with the very nonces and window the route's 402 offered.
    let (Some(offer), Some(advert), Some(raw)) = (
        route.sign_in,
        challenge.extensions().sign_in.as_ref(),
        facts.sign_in.as_deref(),
    ) else {
        return Ok(None);
    };
    let signed = siwx::decode(raw)?;
    let resource = challenge.resource_url(&facts.resource_url);
    let chains: Vec<String> = challenge
        .offers()
        .iter()
        .map(|o| o.v2.network.clone())
        .collect();
    let expect = Expect {
        domain: authority(resource),
        resource,
        chains: &chains,
        max_age_secs: advert.max_age_secs,
        now,
    };
    let (wallet, redeemable_until) = siwx::verify(&advert.nonces, &signed, &expect)?;
    let ledger = payments.settlement.ledger().ok_or(SignInError::NotPaid)?;
    let since_ms = now.saturating_sub(offer.paid_within_secs) * 1000;
    let payer = wallet.to_checksum(None);
    match ledger.has_paid(&payer, &route.name, since_ms) {
        Ok(true) => {}
        Ok(false) => return Err(SignInError::NotPaid),
        Err(e) => {
            tracing::warn!("sign-in: the ledger could not be read: {e}");
            return Err(SignInError::Unavailable);
        }
    }
    match payments
        .access
        .redeem(digest16(signed.nonce.as_bytes()), redeemable_until)
        .await
    {
        Ok(true) => Ok(Some(Grant::new(GrantKind::SignIn, wallet))),
        Ok(false) => Err(SignInError::NonceUsed),
        Err(_) => Err(SignInError::Unavailable),
    }
}

/// Why a request was refused for its payment identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRefusal {
    /// The route requires one and the payment has none (400).
    Missing,
    /// Not 16-128 of `[A-Za-z0-9_-]` (400).
    Invalid,
    /// Seen before with another request or payer (409).
    Conflict,
    /// Its first payment is still being processed (409).
    InProgress,
}

impl IdRefusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Conflict => "conflict",
            Self::InProgress => "in_progress",
        }
    }
}

/// The `payment-identifier` step of a payment that passed the local checks: `Ok(Some(id))`
/// opens the id for this payment, `Err` ends the request (a replay of the first outcome, or a
/// refusal). Only a signature checked here (65 bytes) is trusted to name the payer of a replay;
/// a smart-wallet payment is processed as a fresh one.
pub(super) async fn identify(
    payments: &Payments,
    route: &Route,
    payload: &serde_json::Value,
    auth: &ExactAuthorization,
    fingerprint: Option<[u8; 32]>,
    now: UnixSecs,
) -> Result<Option<[u8; 16]>, Verdict> {
    let Some(required) = route.payment_id else {
        return Ok(None);
    };
    let id = match payment_id::extract(payload) {
        Ok(Some(id)) => id,
        Ok(None) if required => return Err(refuse(payments, IdRefusal::Missing)),
        Ok(None) => return Ok(None),
        Err(_) => return Err(refuse(payments, IdRefusal::Invalid)),
    };
    let (Some(fingerprint), 65) = (fingerprint, auth.signature.len()) else {
        return Ok(None);
    };
    let key = digest16(id.as_bytes());
    let seen = payments
        .access
        .begin_idempotent(key, fingerprint, auth.from, auth.valid_before, now)
        .await;
    match seen {
        Ok(Idempotent::First) => Ok(Some(key)),
        Ok(Idempotent::Replay(first)) => {
            payments
                .metrics
                .idempotent
                .with_label_values(&["replayed"])
                .inc();
            let mut grant = Grant::new(GrantKind::Replay, first.payer);
            grant.headers.clone_from(&first.headers);
            Err(Verdict::Granted(Box::new(grant)))
        }
        Ok(Idempotent::Conflict) => Err(refuse(payments, IdRefusal::Conflict)),
        Ok(Idempotent::InProgress) => Err(refuse(payments, IdRefusal::InProgress)),
        // Without the store, the payment goes ahead as a fresh one (charged once, as always).
        Err(e) => {
            tracing::warn!("payment identifier not recorded: {e}");
            Ok(None)
        }
    }
}

fn refuse(payments: &Payments, why: IdRefusal) -> Verdict {
    payments
        .metrics
        .idempotent
        .with_label_values(&[why.label()])
        .inc();
    Verdict::Identifier(why)
}

/// A charged (or, under `background`, owed) payment: its pass joins the response, and its
/// identifier's retries will get this outcome.
pub(super) async fn after_payment(
    payments: &Payments,
    snapshot: &Snapshot,
    paid: &mut PaidRequest,
    headers: &mut Vec<(&'static str, String)>,
) {
    if let (Some(offer), Some(keys)) = (&paid.pass, &snapshot.access.keys) {
        let now = payments.clock.now_secs();
        let claims = PassClaims {
            id: paid.key.digest(),
            expires_at: now + offer.ttl_secs,
            uses: offer.uses,
            payer: paid.auth.from,
            scope: offer.scope,
        };
        let token = pass::issue(keys, &claims);
        headers.push((
            "Set-Cookie",
            format!(
                "{}={token}; Path={}; Max-Age={}; Secure; HttpOnly; SameSite={}",
                pass::COOKIE,
                offer.cookie_path,
                offer.ttl_secs,
                snapshot.access.same_site
            ),
        ));
        headers.push((PASS_HEADER, token));
        payments.metrics.passes_issued.inc();
    }
    if let Some(id) = paid.payment_id.take() {
        let outcome = FirstOutcome {
            payer: paid.auth.from,
            headers: headers.clone(),
        };
        payments.access.finish_idempotent(id, outcome).await;
    }
}

/// A payment that ends uncharged opens its identifier again, so the client may pay for real.
/// An unknown outcome keeps it closed (a retry gets 409 until the payment's window ends).
pub(super) async fn payment_dropped(payments: &Payments, paid: &mut PaidRequest, unknown: bool) {
    if let Some(id) = paid.payment_id.take()
        && !unknown
    {
        payments.access.abort_idempotent(id).await;
    }
}

/// The end of a granted request: a pass use is given back if nothing was delivered.
pub(super) async fn finish(payments: &Payments, grant: &Grant, delivered: bool) {
    if let (Some(id), false) = (grant.pass, delivered) {
        let _ = payments.access.give_back_use(id).await;
    }
}

/// 16 bytes of SHA-256: the key stores keep for an id or nonce.
fn digest16(bytes: &[u8]) -> [u8; 16] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest.as_ref()[..16]);
    out
}

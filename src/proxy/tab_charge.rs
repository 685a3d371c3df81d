//! Pay per crawl on a tab (Cloudflare's dialect, toll-booth.md §3, on the gateway's own ledger):
//! a crawler names its price in `crawler-exact-price` or `crawler-max-price`, covered by its
//! verified Web Bot Auth signature; the request is served, and once the origin answers 2xx the
//! charge is written to the crawler's tab (durably, before the response leaves) and the response
//! says `crawler-charged`.
//!
//! The line's commitment id is the digest of the signed request: the same signed request again
//! (same nonce, inside its window) is served without a second charge, so a lost response can be
//! fetched again; a nonce reused on another request is refused. With `crawler-max-price` the
//! origin may price the response in band (`crawler-price` on its answer, asked for with
//! `cf-pay-per-crawl: protocol=cloudflare, pricing=in-band`): validated, capped by the maximum,
//! and never passed to the client.

use std::sync::Arc;

use pingora::http::{RequestHeader, ResponseHeader};

use super::paywall::Payments;
use super::request::RequestFacts;
use super::respond::Reply;
use super::toll::refused;
use crate::ledger::{TabInsert, TabLine};
use crate::snapshot::Route;
use crate::store::TabHold;
use crate::toll::cloudflare::{
    CRAWLER_CHARGED, CRAWLER_ERROR, CRAWLER_EXACT_PRICE, CRAWLER_MAX_PRICE, CRAWLER_PRICE,
    CrawlerError,
};
use crate::toll::identity::Identity;
use crate::toll::policy::{TabAccount, TollBooth};
use crate::toll::tab_offer;
use crate::toll::usd::MicroUsd;
use crate::x402::reason::Rejection;

/// A request being charged to a tab.
#[derive(Debug)]
pub struct TabCharge {
    pub account: Arc<TabAccount>,
    pub crawler: Arc<str>,
    /// The price asked (the in-band price may lower or raise it up to `max`).
    pub price: MicroUsd,
    /// `crawler-max-price`: the origin may price in band up to this.
    pub max: Option<MicroUsd>,
    /// Paid by accepting the x402 tab offer: the answer carries `PAYMENT-RESPONSE`.
    pub x402: bool,
    pub host: String,
    pub commitment: [u8; 32],
    pub method: String,
    pub url: String,
    /// The line already charged for this signed request: served again, not charged again.
    pub replay: Option<TabLine>,
    /// The price held against the account's credit until the line is written.
    hold: Option<TabHoldBox>,
}

/// `TabHold` is not `Debug`; this wrapper is.
struct TabHoldBox(TabHold);

impl std::fmt::Debug for TabHoldBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TabHold({})", self.0.price())
    }
}

/// Why a pay-per-crawl request is refused.
#[derive(Debug)]
pub struct TabRefusal {
    pub error: CrawlerError,
    pub reason: &'static str,
    message: &'static str,
    /// Over the credit limit with `on_limit = "prepay"`: a 402 offering x402 `exact` only.
    prepay: bool,
}

impl TabRefusal {
    fn new(error: CrawlerError, reason: &'static str, message: &'static str) -> Self {
        Self {
            error,
            reason,
            message,
            prepay: false,
        }
    }

    /// The answer: the code's status and `crawler-error` (with `crawler-price` on a 402), or,
    /// over the limit, the route's 402 at the toll price (x402 `exact`, nothing on the tab).
    pub fn reply(
        &self,
        booth: &TollBooth,
        price: MicroUsd,
        route: &Route,
        facts: &RequestFacts,
    ) -> Reply {
        let offers = if route.toll_offers.0.is_empty() {
            &booth.default_offers
        } else {
            &route.toll_offers
        };
        if self.prepay
            && let Some(challenge) = offers.0.get(&price)
        {
            let mut reply = Reply::challenge(
                challenge,
                &facts.resource_url,
                &Rejection::Access(self.reason),
                false,
            );
            if booth.emit_cloudflare_headers {
                reply.headers.push((CRAWLER_PRICE, price.to_string()));
                reply
                    .headers
                    .push((CRAWLER_ERROR, self.error.code().to_string()));
            }
            return reply;
        }
        let quoted = (self.error.status() == 402).then_some(price);
        code_reply(
            booth.emit_cloudflare_headers,
            self.error,
            self.reason,
            self.message,
            quoted,
        )
    }
}

/// How a crawler names what it pays: Cloudflare's headers, or an x402 payment accepting the tab
/// offer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Named<'a> {
    Headers {
        exact: Option<&'a str>,
        max: Option<&'a str>,
    },
    /// A `PAYMENT-SIGNATURE` for the `batch-settlement` tab offer (its amount, or why not).
    Tab(Result<MicroUsd, &'static str>),
}

impl<'a> Named<'a> {
    /// What `req` names, if anything: the price headers, else a tab payment in `PAYMENT-SIGNATURE`.
    pub fn of(req: &'a RequestHeader, facts: &RequestFacts, max_header: usize) -> Option<Self> {
        let text = |name| req.headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        let (exact, max) = (text(CRAWLER_EXACT_PRICE), text(CRAWLER_MAX_PRICE));
        // A payment decides: the tab offer accepted, or an x402 payment for the paywall.
        if let Some(value) = facts.payment_signature.as_deref() {
            let header = crate::x402::decode_payment_header(value, max_header).ok()?;
            return tab_offer::read_payment(header.raw(), &facts.host).map(Self::Tab);
        }
        if facts.x_payment.is_some() {
            return None;
        }
        (exact.is_some() || max.is_some()).then_some(Self::Headers { exact, max })
    }
}

/// Checks a request that names its price and opens its tab charge.
pub(super) fn open(
    payments: &Payments,
    booth: &TollBooth,
    identity: &Identity,
    crawler: &Arc<str>,
    price: MicroUsd,
    named: Named<'_>,
    facts: &RequestFacts,
) -> Result<TabCharge, TabRefusal> {
    use CrawlerError as E;
    let (header, offered, is_max, x402) = match named {
        Named::Headers {
            exact: Some(_),
            max: Some(_),
        } => {
            return Err(TabRefusal::new(
                E::ConflictingPriceHeaders,
                "conflicting_price_headers",
                "send crawler-exact-price or crawler-max-price, not both",
            ));
        }
        Named::Headers { exact, max } => {
            let (header, value, is_max) = match (exact, max) {
                (Some(v), _) => (CRAWLER_EXACT_PRICE, v, false),
                (None, Some(v)) => (CRAWLER_MAX_PRICE, v, true),
                (None, None) => {
                    return Err(TabRefusal::new(
                        E::MissingCrawlerPrice,
                        "missing_crawler_price",
                        "send crawler-exact-price or crawler-max-price",
                    ));
                }
            };
            let offered = MicroUsd::parse(value, false).map_err(|_| {
                TabRefusal::new(
                    E::InvalidCrawlerPriceValue,
                    "invalid_crawler_price_value",
                    "a crawler price looks like `USD 0.01`",
                )
            })?;
            (header, offered, is_max, false)
        }
        Named::Tab(Ok(amount)) => (crate::x402::PAYMENT_SIGNATURE, amount, false, true),
        Named::Tab(Err(reason)) => {
            return Err(TabRefusal::new(
                E::InvalidCrawlerPriceValue,
                reason,
                "the payment does not match this resource's tab offer",
            ));
        }
    };
    let Some(signature) = identity.signature.as_ref() else {
        return Err(TabRefusal::new(
            E::StrongAuthRequired,
            "strong_auth_required",
            "paying per crawl needs a verified Web Bot Auth signature",
        ));
    };
    if !signature.covers(header) {
        return Err(TabRefusal::new(
            E::InvalidSignature,
            "price_header_not_signed",
            "the crawler price header must be a component covered by the signature",
        ));
    }
    if !is_max && offered != price {
        return Err(TabRefusal::new(
            E::InvalidCrawlerExactPrice,
            "invalid_crawler_exact_price",
            "crawler-exact-price is not the price of this resource (see crawler-price)",
        ));
    }
    if is_max && offered < price {
        return Err(TabRefusal::new(
            E::InvalidCrawlerMaxPrice,
            "invalid_crawler_max_price",
            "crawler-max-price is below the price of this resource (see crawler-price)",
        ));
    }
    let Some(account) = booth.tab(&signature.agent_url) else {
        return Err(TabRefusal::new(
            E::PaymentFailed,
            "no_tab",
            "this signature agent has no account here; pay with x402 instead",
        ));
    };
    let commitment = signature.commitment_id(&facts.method, &facts.resource_url);
    if let Some(nonce) = &signature.nonce
        && payments.toll.tabs.use_nonce(nonce, commitment).is_err()
    {
        return Err(TabRefusal::new(
            E::InvalidSignature,
            "signature_nonce_reused",
            "this signature nonce was used by another request",
        ));
    }
    let replay = payments.toll.tabs.charged(&commitment).map_err(|e| {
        tracing::error!(error = %e, "tab ledger unreadable");
        TabRefusal::new(
            E::InternalError,
            "tab_unavailable",
            "the tab cannot be read; retry later",
        )
    })?;
    let hold = if replay.is_some() {
        None
    } else {
        // Held at the most the request may cost: its price, or its maximum (in-band pricing).
        let most = if is_max { offered } else { price };
        let now_ms = payments.clock.now_secs().saturating_mul(1000);
        let held = payments
            .toll
            .tabs
            .hold(&account.account, most.0, account.credit_limit.0, now_ms)
            .map_err(|closed| TabRefusal {
                prepay: !account.block_on_limit,
                ..TabRefusal::new(E::PaymentFailed, closed.reason(), closed.message())
            })?;
        Some(TabHoldBox(held))
    };
    Ok(TabCharge {
        account: account.clone(),
        crawler: crawler.clone(),
        price,
        max: is_max.then_some(offered),
        x402,
        host: facts.host.clone(),
        commitment,
        method: facts.method.clone(),
        url: facts.resource_url.clone(),
        replay,
        hold,
    })
}

/// `cf-pay-per-crawl` for the origin: in-band pricing when the crawler gave a maximum.
pub(super) fn origin_hint(charge: Option<&TabCharge>) -> &'static str {
    match charge {
        Some(c) if c.max.is_some() && c.replay.is_none() => "protocol=cloudflare, pricing=in-band",
        Some(_) => "protocol=cloudflare, pricing=zone-default",
        None => "protocol=cloudflare, pricing=bypass",
    }
}

/// The origin answered: read an in-band price, and on a 2xx write the line and say
/// `crawler-charged`. A refusal replaces the origin's answer (nothing charged).
pub(super) async fn answered(
    payments: &Payments,
    booth_emits: bool,
    route: &str,
    charge: &mut TabCharge,
    response: &mut ResponseHeader,
) -> Result<(), Reply> {
    let status = response.status.as_u16();
    let in_band = response
        .headers
        .get(CRAWLER_PRICE)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_string());
    if status != 402 {
        response.remove_header(CRAWLER_PRICE);
    }
    let mut price = charge.price;
    if let (Some(text), Some(max)) = (in_band, charge.max)
        && charge.replay.is_none()
    {
        let Ok(p) = MicroUsd::parse(&text, false) else {
            return Err(code_reply(
                booth_emits,
                CrawlerError::InvalidContentPrice,
                "invalid_content_price",
                "the origin set an invalid crawler-price",
                None,
            ));
        };
        if p > max {
            return Err(code_reply(
                booth_emits,
                CrawlerError::InvalidCrawlerMaxPrice,
                "invalid_crawler_max_price",
                "this response costs more than crawler-max-price",
                Some(p),
            ));
        }
        price = p;
    }
    if !(200..300).contains(&status) {
        charge.hold = None; // not charged: only 2xx is (Cloudflare's rule)
        return Ok(());
    }
    let charged = match (&charge.replay, charge.hold.take()) {
        (Some(line), _) => {
            payments
                .metrics
                .toll
                .tab_lines
                .with_label_values(&["replay"])
                .inc();
            MicroUsd(line.amount_micro_usd)
        }
        (None, Some(hold)) => {
            let line = TabLine {
                commitment: alloy_primitives::hex::encode(charge.commitment),
                account: charge.account.account.to_string(),
                crawler: charge.crawler.to_string(),
                route: route.to_string(),
                method: charge.method.clone(),
                url: charge.url.clone(),
                status,
                amount_micro_usd: price.0,
                created_ms: crate::clock::unix_millis(),
                batch: None,
            };
            match payments.toll.tabs.charge(hold.0, line).await {
                Ok(TabInsert::New) => {
                    payments
                        .metrics
                        .toll
                        .tab_lines
                        .with_label_values(&["new"])
                        .inc();
                    payments
                        .metrics
                        .toll
                        .charged
                        .with_label_values(&[&charge.crawler, "tab"])
                        .inc_by(price.0);
                    price
                }
                Ok(TabInsert::Existing) => {
                    payments
                        .metrics
                        .toll
                        .tab_lines
                        .with_label_values(&["replay"])
                        .inc();
                    price
                }
                Err(e) => {
                    tracing::error!(error = %e, account = %charge.account.account, "tab line not written: response withheld");
                    return Err(Reply::error(
                        503,
                        "tab_unavailable",
                        "the charge could not be recorded; nothing was charged, retry later",
                    ));
                }
            }
        }
        (None, None) => price,
    };
    if booth_emits {
        let _ = response.insert_header(CRAWLER_CHARGED, charged.to_string());
    }
    if charge.x402 {
        let now = payments.clock.now_secs();
        let value = tab_offer::response(&charge.host, charged, &charge.commitment, now);
        let _ = response.insert_header("PAYMENT-RESPONSE", value);
    }
    Ok(())
}

/// A refusal with its `crawler-error` (and `crawler-price`, for a price refused).
fn code_reply(
    emit: bool,
    error: CrawlerError,
    reason: &str,
    message: &str,
    price: Option<MicroUsd>,
) -> Reply {
    let mut reply = refused(emit, error, reason, message);
    if emit && let Some(p) = price {
        reply.headers.push((CRAWLER_PRICE, p.to_string()));
    }
    reply
}

/// The `crawler-charged` header `answered` set, to copy into a locally served response.
pub(super) fn charged_header(head: &ResponseHeader) -> Option<(&'static str, String)> {
    let value = head.headers.get(CRAWLER_CHARGED)?.to_str().ok()?;
    Some((CRAWLER_CHARGED, value.to_string()))
}

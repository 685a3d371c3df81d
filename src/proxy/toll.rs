//! The toll booth's step of `request_filter`, after the route is found and before it is priced:
//! who is asking (`toll::identity`), what the policy decides (`toll::policy`), and what that
//! means for this request (README "Toll booth").
//!
//! | decision | enforce | observe |
//! |---|---|---|
//! | invalid signature | 400 `InvalidSignature` | counted, then the route decides |
//! | block | `block.status` (403) `CrawlerForbidden` | counted as would-block, the route decides |
//! | allow | forwarded free, even on a priced route (a pass is not needed) | the route decides |
//! | charge | `crawler-*-price` under a verified signature: the tab (`tab_charge.rs`); otherwise the paywall runs with the offers at the toll price (a pass, sign-in or x402 payment) | counted as would-charge, the route decides |
//! | route | the route decides | the route decides |

use std::sync::Arc;

use pingora::http::RequestHeader;

use super::Gateway;
use super::ctx::{Outcome, RequestCtx};
use super::request::RequestFacts;
use super::respond::Reply;
use super::tab_charge::{self, Named, TabCharge};
use crate::ledger::Ledger;
use crate::snapshot::{Route, Snapshot};
use crate::store::TabBook;
use crate::toll::cloudflare::{CRAWLER_ERROR, CRAWLER_PRICE, CrawlerError};
use crate::toll::directory::Directories;
use crate::toll::identity::{Asking, Classifier, Identity, Refusal};
use crate::toll::policy::{Action, Decision, Mode, TollBooth};
use crate::toll::rdns::Resolver;
use crate::toll::signature::Message;
use crate::toll::tab_offer;
use crate::toll::usd::MicroUsd;
use crate::x402::PAYMENT_REQUIRED;
use crate::x402::challenge::Challenge;

/// The toll booth's state that outlives a request and a reload: key directories and reverse DNS
/// answers (cached), nonces and tabs.
pub struct TollState {
    pub classifier: Classifier,
    pub tabs: TabBook,
}

impl TollState {
    /// From the first snapshot's `[toll_booth]` (its directory and DNS settings need a restart to
    /// change) and the ledger (tabs live in it).
    pub fn new(booth: Option<&TollBooth>, ledger: Option<Arc<Ledger>>) -> anyhow::Result<Self> {
        let defaults = crate::toll::directory::Limits::default();
        let limits = booth.map_or(defaults, |b| b.directory.clone());
        let resolver = match booth {
            Some(b) => {
                Some(Resolver::new(&b.dns).map_err(|e| anyhow::anyhow!("[toll_booth.dns]: {e}"))?)
            }
            None => None,
        };
        Ok(Self {
            classifier: Classifier {
                directories: Directories::new(limits),
                resolver,
                ip_lists: Default::default(),
            },
            tabs: TabBook::open(ledger)?,
        })
    }

    /// Without a toll booth or ledger (tests of other steps).
    pub fn none() -> Self {
        Self {
            classifier: Classifier {
                directories: Directories::new(crate::toll::directory::Limits::default()),
                resolver: None,
                ip_lists: Default::default(),
            },
            tabs: TabBook::without_ledger(),
        }
    }
}

/// What the toll booth decided for the request.
pub(super) enum TollStep {
    /// The toll booth stays out of it: the route prices the request.
    Route,
    /// Free: forward.
    Free,
    /// Run the paywall with these offers (the toll price).
    Charge(Arc<Challenge>),
    /// Answered here.
    Reply(Reply),
    /// Charged to a tab once the origin answers 2xx.
    Tab,
}

/// What the toll booth remembers of one request, for the origin, the response and the log.
#[derive(Debug)]
pub struct TollCtx {
    pub crawler: Arc<str>,
    pub outcome: &'static str,
    pub method: &'static str,
    /// The price asked (also under observe mode: what would have been charged).
    pub price: Option<MicroUsd>,
    pub emit_headers: bool,
    /// The tab's `batch-settlement` offer, added to this crawler's 402.
    pub tab_offer: Option<serde_json::Value>,
    /// A pay-per-crawl charge to a tab.
    pub tab: Option<TabCharge>,
}

impl Gateway {
    /// The toll booth's step; `None` when it has nothing to say (no `[toll_booth]`, `OPTIONS`).
    pub(super) async fn toll(
        &self,
        snapshot: &Snapshot,
        booth: &TollBooth,
        route: &Route,
        facts: &RequestFacts,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
    ) -> TollStep {
        if facts.method == "OPTIONS" {
            return TollStep::Route;
        }
        let metrics = &self.payments.metrics.toll;
        let identity = match self.identify(booth, facts, req).await {
            Ok(identity) => identity,
            Err(refusal) => {
                let reason = refusal.reason();
                metrics
                    .refusals
                    .with_label_values(&[CrawlerError::InvalidSignature.code(), reason])
                    .inc();
                if booth.mode == Mode::Observe {
                    tracing::info!(reason, "toll booth (observe): a signature would be refused");
                    return TollStep::Route;
                }
                ctx.outcome = Outcome::BadRequest;
                return TollStep::Reply(refused(
                    booth.emit_cloudflare_headers,
                    CrawlerError::InvalidSignature,
                    reason,
                    &signature_message(&refusal),
                ));
            }
        };
        let decision = booth.decide(&identity, &facts.host, &facts.path, route.usd_price);
        metrics
            .requests
            .with_label_values(&[
                &decision.label,
                identity.method.label(),
                identity.outcome.label(),
                decision.action.label(),
                decision.mode.label(),
            ])
            .inc();
        let toll = TollCtx {
            crawler: decision.label.clone(),
            outcome: identity.outcome.label(),
            method: identity.method.label(),
            price: decision.price,
            emit_headers: booth.emit_cloudflare_headers,
            tab_offer: None,
            tab: None,
        };
        if decision.mode == Mode::Observe {
            if let Some(price) = decision.price {
                metrics
                    .would_charge
                    .with_label_values(&[&decision.label])
                    .inc_by(price.0);
            }
            ctx.toll = Some(toll);
            return TollStep::Route;
        }
        ctx.toll = Some(toll);
        match decision.action {
            Action::Route => TollStep::Route,
            Action::Allow => {
                ctx.outcome = Outcome::Free;
                TollStep::Free
            }
            Action::Block => {
                ctx.outcome = Outcome::Challenged("crawler_forbidden");
                metrics
                    .refusals
                    .with_label_values(&[CrawlerError::CrawlerForbidden.code(), "blocked"])
                    .inc();
                TollStep::Reply(blocked(booth))
            }
            Action::Charge => {
                let max_header = snapshot.max_payment_header_bytes;
                self.charge_crawler(
                    booth, route, &identity, &decision, facts, req, ctx, max_header,
                )
                .await
            }
        }
    }

    /// Classifies the request (its signature, user agent and address).
    async fn identify(
        &self,
        booth: &TollBooth,
        facts: &RequestFacts,
        req: &RequestHeader,
    ) -> Result<Identity, Refusal> {
        let authority = facts
            .absolute_authority
            .as_deref()
            .or_else(|| {
                req.headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
            })
            .unwrap_or("");
        let path_and_query = std::str::from_utf8(req.raw_path()).unwrap_or("/");
        let asking = Asking {
            message: Message {
                method: &facts.method,
                scheme: &facts.forwarded.proto,
                authority,
                path_and_query,
                headers: &req.headers,
            },
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            client_ip: facts.limit_ip,
            browser: facts.browser,
            now: self.payments.clock.now_secs(),
        };
        self.payments.toll.classifier.classify(booth, &asking).await
    }

    /// A crawler the policy charges: on its tab when it names its price under a verified
    /// signature, else through the paywall at the toll price.
    #[allow(clippy::too_many_arguments)]
    async fn charge_crawler(
        &self,
        booth: &TollBooth,
        route: &Route,
        identity: &Identity,
        decision: &Decision,
        facts: &RequestFacts,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
        max_header: usize,
    ) -> TollStep {
        let price = decision.price.unwrap_or(booth.default_price);
        // A crawler with room on its tab is offered it beside x402 `exact`.
        if let (Some(toll), Some(sig)) = (ctx.toll.as_mut(), identity.signature.as_ref())
            && let Some(account) = booth.tab(&sig.agent_url)
            && self.payments.toll.tabs.has_room(
                &account.account,
                price.0,
                account.credit_limit.0,
                self.payments.clock.now_secs().saturating_mul(1000),
            )
        {
            toll.tab_offer = Some(tab_offer::offer(&facts.host, price));
        }
        if let Some(named) = Named::of(req, facts, max_header) {
            let label = &decision.label;
            return match tab_charge::open(
                &self.payments,
                booth,
                identity,
                label,
                price,
                named,
                facts,
            ) {
                Ok(charge) => {
                    ctx.outcome = Outcome::Granted(if charge.replay.is_some() {
                        "tab_replay"
                    } else {
                        "tab"
                    });
                    if let Some(toll) = ctx.toll.as_mut() {
                        toll.tab = Some(charge);
                    }
                    TollStep::Tab
                }
                Err(refusal) => {
                    ctx.outcome = Outcome::Challenged("crawler_refused");
                    self.payments
                        .metrics
                        .toll
                        .refusals
                        .with_label_values(&[refusal.error.code(), refusal.reason])
                        .inc();
                    TollStep::Reply(refusal.reply(booth, price, route, facts))
                }
            };
        }
        let offers = if route.toll_offers.0.is_empty() {
            &booth.default_offers
        } else {
            &route.toll_offers
        };
        match offers.0.get(&price) {
            Some(challenge) => TollStep::Charge(challenge.clone()),
            // Only options in tokens that are not USD stablecoins: nothing to offer at a USD price.
            None => TollStep::Reply(Reply::error(
                500,
                "toll_price_unpayable",
                "this route has no USD stablecoin payment option for the crawler price",
            )),
        }
    }
}

/// What the toll booth publishes itself: `/robots.txt` and `/.well-known/x402{,.json}`.
pub(super) fn published(booth: &TollBooth, facts: &RequestFacts) -> Option<Reply> {
    if facts.method != "GET" && facts.method != "HEAD" {
        return None;
    }
    let (body, content_type) = match facts.path.as_str() {
        "/robots.txt" => (booth.robots_txt.clone()?, "text/plain; charset=utf-8"),
        "/.well-known/x402" => (booth.well_known.as_ref()?.0.clone(), "application/json"),
        "/.well-known/x402.json" => (booth.well_known.as_ref()?.1.clone(), "application/json"),
        _ => return None,
    };
    let mut reply = Reply::text(200, body);
    for header in reply.headers.iter_mut() {
        if header.0 == "Content-Type" {
            header.1 = content_type.to_string();
        }
        if header.0 == "Cache-Control" {
            header.1 = "public, max-age=300".to_string();
        }
    }
    Some(reply)
}

/// A 402 from the paywall at a toll price, with Cloudflare's headers.
pub(super) fn with_price_headers(mut reply: Reply, toll: Option<&TollCtx>) -> Reply {
    let Some(toll) = toll.filter(|_| reply.status == 402) else {
        return reply;
    };
    if let (true, Some(price)) = (toll.emit_headers, toll.price) {
        reply.headers.push((CRAWLER_PRICE, price.to_string()));
        reply.headers.push((
            CRAWLER_ERROR,
            CrawlerError::MissingCrawlerPrice.code().to_string(),
        ));
    }
    if let Some(offer) = toll.tab_offer.as_ref() {
        for header in reply.headers.iter_mut() {
            if header.0.eq_ignore_ascii_case(PAYMENT_REQUIRED)
                && let Some(with) = tab_offer::with_offer(&header.1, offer.clone())
            {
                header.1 = with;
            }
        }
    }
    reply
}

/// The answer to a blocked crawler: `block.status` with `block.body` as plain text.
fn blocked(booth: &TollBooth) -> Reply {
    let body = if booth.block_body.is_empty() {
        "This crawler is not allowed here.".to_string()
    } else {
        booth.block_body.clone()
    };
    let mut reply = Reply::text(booth.block_status, body);
    if booth.emit_cloudflare_headers {
        reply.headers.push((
            CRAWLER_ERROR,
            CrawlerError::CrawlerForbidden.code().to_string(),
        ));
    }
    reply
}

/// A refusal with its `crawler-error` and Cloudflare's status; the JSON body says why.
pub(super) fn refused(emit: bool, error: CrawlerError, reason: &str, message: &str) -> Reply {
    let mut reply = Reply::error(error.status(), reason, message);
    if emit {
        reply
            .headers
            .push((CRAWLER_ERROR, error.code().to_string()));
    }
    reply
}

fn signature_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Signature(e) => format!("the Web Bot Auth signature was refused: {e}"),
        Refusal::Key(e) => format!("the signature's key could not be found: {e}"),
        Refusal::TestKey => "the signature uses RFC 9421's published test key".to_string(),
        Refusal::NonceReused => "this signature nonce was used by another request".to_string(),
    }
}

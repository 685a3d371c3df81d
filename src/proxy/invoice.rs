//! Invoice URLs of the tabs' batches (`/.well-known/x402/tab/<batch>`, on any host). Unpaid, the
//! URL is a priced route for the batch total in `[payment]`'s USD stablecoins, settled before the
//! answer (`settle = "before"`) by the same machinery as every paid route, so any x402 client
//! pays it; the settled payment marks the batch paid. Paid, it answers 200 with the batch.
//! One payment at a time per batch: a second one while the first is in flight gets 409.

use std::sync::Arc;

use pingora::proxy::Session;

use super::Gateway;
use super::ctx::{Outcome, RequestCtx};
use super::deliver::{self, Moment};
use super::local::LocalBody;
use super::request::RequestFacts;
use super::respond::{self, EXPOSE_HEADERS, Reply};
use super::steps::Step;
use crate::billing::invoice::Invoice;
use crate::billing::{INVOICE_PATH, cycle};
use crate::ledger::{Batch, BillingDone};
use crate::snapshot::{Origin, OriginKind, Pricing, Route, SettlePolicy, Snapshot};
use crate::tally::Held;
use crate::toll::policy::{TollBooth, TollOffers};
use crate::toll::usd::MicroUsd;
use crate::x402::challenge::Challenge;

/// The invoice a request is paying.
pub struct InvoiceCtx {
    pub batch: Batch,
    /// This request's claim on the invoice while its payment is made.
    _paying: Option<Held<Arc<str>>>,
}

impl Gateway {
    /// Answers an invoice URL, or `None` for any other request.
    pub(super) async fn invoice(
        &self,
        snapshot: &Snapshot,
        facts: &RequestFacts,
        ctx: &mut RequestCtx,
        session: &mut Session,
    ) -> Option<Step> {
        let booth = snapshot.toll.as_ref()?;
        let id = facts.path.strip_prefix(INVOICE_PATH)?;
        ctx.outcome = Outcome::BadRequest;
        if facts.method != "GET" && facts.method != "HEAD" {
            let reply = Reply::error(405, "method_not_allowed", "an invoice is paid with GET");
            return Some(Step::Reply(reply));
        }
        let tabs = &self.payments.toll.tabs;
        let found = match tabs.ledger() {
            Some(ledger) if cycle::is_batch_id(id) => ledger.reader().batch(id),
            _ => Ok(None),
        };
        let batch = match found {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                let reply = Reply::error(404, "no_such_batch", "there is no tab batch by this id");
                return Some(Step::Reply(reply));
            }
            Err(e) => {
                tracing::error!(error = %e, "tab ledger unreadable");
                ctx.outcome = Outcome::Unavailable;
                let reply = Reply::error(503, "ledger_unavailable", "try again shortly");
                return Some(Step::Reply(reply));
            }
        };
        if batch.is_paid() {
            ctx.outcome = Outcome::Free;
            let doc = receipt(&batch, snapshot.public_url.as_deref());
            return Some(Step::Reply(Reply::json(200, &doc)));
        }
        let Some(route) = invoice_route(booth, &batch) else {
            let reply = Reply::error(
                500,
                "invoice_unpayable",
                "no USD stablecoin payment option is configured in [payment]",
            );
            return Some(Step::Reply(reply));
        };
        let paying = facts.payment_signature.is_some() || facts.x_payment.is_some();
        let claim = if paying {
            match tabs.paying(&batch.id) {
                Some(claim) => Some(claim),
                None => {
                    let reply = Reply::error(
                        409,
                        "invoice_payment_in_progress",
                        "another payment of this invoice is being made; retry shortly",
                    );
                    return Some(Step::Reply(reply));
                }
            }
        } else {
            None
        };
        ctx.route = Some(route.clone());
        ctx.origin = Some(route.origin.clone());
        ctx.invoice = Some(InvoiceCtx {
            batch,
            _paying: claim,
        });
        let Pricing::Paid(challenge) = &route.pricing else {
            return None;
        };
        Some(
            self.charge(snapshot, &route, challenge, facts, ctx, session)
                .await,
        )
    }

    /// A settled invoice payment: the batch marked paid, and its receipt.
    pub(super) async fn serve_invoice(
        &self,
        snapshot: &Snapshot,
        session: &mut Session,
        ctx: &mut RequestCtx,
        facts: &RequestFacts,
    ) -> pingora::Result<()> {
        let (Some(paid), Some(invoice)) = (ctx.payment.as_mut(), ctx.invoice.as_ref()) else {
            let reply = Reply::error(402, "payment_required", "this invoice is paid in USDC");
            return reply.send(session, facts.is_head).await;
        };
        let moment = Moment::Answered(200);
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        match deliver::settle_at(&self.payments, snapshot, paid, moment, &mut ctx.outcome).await {
            Ok(settled) => {
                headers.extend(settled);
                headers.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.into()));
            }
            Err(failure) => {
                let version = paid.version;
                let reply = match ctx.challenge() {
                    Some(c) => Reply::settle_failure(c, &ctx.resource_url, &failure, version),
                    None => Reply::error(502, "settlement_failed", "the payment did not settle"),
                };
                return reply.send(session, facts.is_head).await;
            }
        }
        let how = format!(
            "x402 {} {}",
            paid.network,
            paid.transaction.as_deref().unwrap_or("-")
        );
        let mut batch = invoice.batch.clone();
        match self
            .payments
            .toll
            .tabs
            .mark_paid(&batch.id, how.clone())
            .await
        {
            Ok(BillingDone::Paid(true)) => {
                let counter = &self.payments.metrics.toll.batches_paid;
                counter.with_label_values(&["x402"]).inc();
                tracing::info!(batch = %batch.id, payer = %paid.payer, "tab batch paid");
            }
            // Marked paid meanwhile by an operator: this payment is an overpayment to refund.
            Ok(BillingDone::Paid(false)) => tracing::warn!(
                batch = %batch.id, payer = %paid.payer, how = %how,
                "tab batch was already paid; this payment is owed back"
            ),
            // The money moved: the payment is in the ledger under this route's name, from which
            // an operator marks the batch paid (`POST /tabs/batches/<id>/paid`).
            other => tracing::error!(
                batch = %batch.id, payer = %paid.payer, outcome = ?other,
                "tab batch paid on chain but not marked paid in the ledger"
            ),
        }
        batch.paid_ms = Some(crate::clock::unix_millis());
        batch.paid_by = Some(how);
        let doc = receipt(&batch, snapshot.public_url.as_deref());
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        let body = LocalBody::Text(body.into());
        respond::send_local(session, 200, headers, body, facts.is_head).await
    }
}

/// The batch as its invoice summary.
fn receipt(batch: &Batch, public_url: Option<&str>) -> serde_json::Value {
    Invoice {
        batch,
        lines: &[],
        public_url,
    }
    .summary()
}

/// The route an unpaid batch is paid on: the batch total in each USD option, settled first.
fn invoice_route(booth: &TollBooth, batch: &Batch) -> Option<Arc<Route>> {
    let options = MicroUsd(batch.total_micro_usd).priced(&booth.invoice_options);
    if options.is_empty() {
        return None;
    }
    let description = format!(
        "Tab batch {} of {}: {} requests",
        batch.id, batch.account, batch.lines
    );
    let challenge = Box::new(Challenge::new(
        &options,
        &description,
        "application/json",
        None,
    ));
    let route = Arc::new(Route {
        name: format!("tab invoice {}", batch.id),
        origin: Arc::new(Origin {
            name: "tab_invoices".to_string(),
            kind: OriginKind::Invoice,
        }),
        pricing: Pricing::Paid(challenge),
        free_methods: Vec::new(),
        settle: SettlePolicy::Before,
        pass: None,
        payment_id: None,
        sign_in: None,
        usd_price: Some(MicroUsd(batch.total_micro_usd)),
        toll_offers: TollOffers::default(),
    });
    Some(route)
}

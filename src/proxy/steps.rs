//! The steps of `request_filter`, in order: refuse malformed heads (method case, host, size,
//! ambiguous paths), answer CORS preflights, find the route, price it (free / free method /
//! OPTIONS / `paywall::decide`), and serve the gateway's own directory origin. Each step either
//! decides the reply or lets the request go on.

use std::sync::Arc;

use pingora::proxy::Session;

use super::ctx::{Outcome, RequestCtx};
use super::deliver::{self, Moment};
use super::identity::{self, Requester};
use super::paywall::{self, Verdict};
use super::request::{Malformed, RequestFacts};
use super::respond::{self, EXPOSE_HEADERS, Reply};
use super::{Gateway, local};
use crate::settlement::Accept;
use crate::snapshot::{Pricing, Route, Snapshot};
use crate::x402::challenge::Challenge;
use crate::x402::reason::Rejection;

/// What `request_filter` decided.
pub(super) enum Step {
    Forward,
    Reply(Reply),
}

impl Gateway {
    /// Route, price and (for priced routes) check the payment: the steps of `request_filter`.
    pub(super) async fn decide(
        &self,
        snapshot: &Snapshot,
        facts: &RequestFacts,
        ctx: &mut RequestCtx,
    ) -> Step {
        if let Some(step) = refuse_malformed(facts, ctx).or_else(|| preflight(snapshot, facts, ctx))
        {
            return step;
        }
        let route = match route(snapshot, facts, ctx) {
            Ok(route) => route,
            Err(step) => return step,
        };
        self.price(snapshot, &route, facts, ctx).await
    }

    /// Free routes go on; OPTIONS is never charged; priced routes need a valid payment.
    async fn price(
        &self,
        snapshot: &Snapshot,
        route: &Route,
        facts: &RequestFacts,
        ctx: &mut RequestCtx,
    ) -> Step {
        let Pricing::Paid(challenge) = &route.pricing else {
            ctx.outcome = Outcome::Free;
            return Step::Forward;
        };
        if facts.method == "OPTIONS" {
            ctx.outcome = Outcome::Preflight;
            return Step::Forward;
        }
        if route.free_methods.contains(&facts.method) {
            ctx.outcome = Outcome::Free;
            return Step::Forward;
        }
        let who = identity::classify(facts);
        let presented = paywall::Presented {
            signature: facts.payment_signature.as_deref(),
            x_payment: facts.x_payment.as_deref(),
            resource_url: &facts.resource_url,
            client_ip: facts.limit_ip,
        };
        let verdict = paywall::decide(&self.payments, snapshot, route, challenge, &presented).await;
        let verdict = self.record(verdict).await;
        let step = self.answer(verdict, route, challenge, facts, who, ctx);
        let Some(paid) = ctx.payment.as_mut() else {
            return step;
        };
        // `settle = "before"` settles here; every other policy later.
        let settled = deliver::settle_at(
            &self.payments,
            snapshot,
            paid,
            Moment::BeforeForward,
            &mut ctx.outcome,
        )
        .await;
        match settled {
            // Its `PAYMENT-RESPONSE` goes out with the origin's answer.
            Ok(_) => step,
            Err(failure) => Step::Reply(Reply::settle_failure(
                challenge,
                &ctx.resource_url,
                &failure,
                paid.version,
            )),
        }
    }

    /// Writes an accepted payment to the ledger before anything is forwarded (refused if it
    /// cannot be), and turns a replay of a paid-but-undelivered payment into its delivery.
    async fn record(&self, verdict: Verdict) -> Verdict {
        let settlement = &self.payments.settlement;
        match verdict {
            Verdict::Paid(paid) => match settlement.accept(&paid).await {
                Ok(Accept::Recorded) => Verdict::Paid(paid),
                Ok(Accept::Known(state)) => {
                    tracing::warn!(payer = %paid.payer, "payment already in the ledger as {state}");
                    Verdict::Challenge(Rejection::AlreadyUsed)
                }
                Err(e) => {
                    tracing::error!(payer = %paid.payer, "ledger write failed, payment refused: {e}");
                    self.payments.metrics.ledger_write_failures.inc();
                    let _ = self.payments.guard.release(&paid.key).await;
                    Verdict::LedgerUnavailable
                }
            },
            Verdict::Used(mut paid) => {
                if settlement.redeliver(&mut paid).await {
                    self.payments.metrics.payment("redelivered");
                    Verdict::Paid(paid)
                } else {
                    Verdict::Challenge(Rejection::AlreadyUsed)
                }
            }
            other => other,
        }
    }

    /// Turns the paywall's verdict into the next step.
    fn answer(
        &self,
        verdict: Verdict,
        route: &Route,
        challenge: &Challenge,
        facts: &RequestFacts,
        who: Requester,
        ctx: &mut RequestCtx,
    ) -> Step {
        match verdict {
            Verdict::Paid(paid) => {
                ctx.payment = Some(*paid);
                ctx.outcome = Outcome::Paid;
                Step::Forward
            }
            Verdict::Challenge(why) => {
                ctx.outcome = Outcome::Challenged(why.label());
                self.payments
                    .metrics
                    .challenges
                    .with_label_values(&[&route.name])
                    .inc();
                if !matches!(why, Rejection::PaymentRequired) {
                    tracing::info!(route = %route.name, reason = %why.reason(false), "payment refused: {why}");
                }
                // A browser asking without a payment gets the paywall page; a failed payment gets JSON.
                let page = who == Requester::Browser && matches!(why, Rejection::PaymentRequired);
                Step::Reply(Reply::challenge(challenge, &facts.resource_url, &why, page))
            }
            Verdict::TooLarge { len, max } => {
                ctx.outcome = Outcome::BadRequest;
                let message =
                    format!("the payment header is {len} bytes; at most {max} are accepted");
                Step::Reply(Reply::error(431, "payment_header_too_large", &message))
            }
            Verdict::TooManyVerifications => {
                ctx.outcome = Outcome::Limited;
                let mut reply = Reply::error(
                    429,
                    "too_many_verifications",
                    "too many payments from this client are being verified at once; try again shortly",
                );
                reply.headers.push(("Retry-After", "1".into()));
                Step::Reply(reply)
            }
            Verdict::ChainUnavailable(e) => {
                ctx.outcome = Outcome::Unavailable;
                tracing::warn!(route = %route.name, "chain state unavailable: {e}");
                Step::Reply(Reply::error(
                    503,
                    "chain_unavailable",
                    "payments cannot be verified right now; nothing was charged, try again shortly",
                ))
            }
            // A 503 carries `Retry-After` (`Reply::error`).
            Verdict::LedgerUnavailable => {
                ctx.outcome = Outcome::Unavailable;
                Step::Reply(Reply::error(
                    503,
                    "ledger_unavailable",
                    "payments cannot be recorded right now; nothing was charged, try again shortly",
                ))
            }
            Verdict::Used(_) => {
                ctx.outcome = Outcome::Challenged(Rejection::AlreadyUsed.label());
                Step::Reply(Reply::challenge(
                    challenge,
                    &facts.resource_url,
                    &Rejection::AlreadyUsed,
                    false,
                ))
            }
            Verdict::Unavailable(e) => {
                ctx.outcome = Outcome::Unavailable;
                tracing::warn!(route = %route.name, "payment verifier unavailable: {e}");
                Step::Reply(Reply::error(
                    503,
                    "facilitator_unavailable",
                    "payments cannot be verified right now; nothing was charged, try again shortly",
                ))
            }
        }
    }

    /// Serves a request whose origin is the gateway's own directory, settling like an upstream.
    pub(super) async fn serve_local(
        &self,
        root: &std::path::Path,
        snapshot: &Snapshot,
        session: &mut Session,
        ctx: &mut RequestCtx,
        facts: &RequestFacts,
    ) -> pingora::Result<()> {
        // What an upstream would be sent: the normalized client spelling.
        let path = ctx
            .normalized_path
            .clone()
            .unwrap_or_else(|| session.req_header().uri.path().to_string());
        let local = local::serve(root, &facts.method, &path).await;
        let mut headers = vec![("Content-Type", local.content_type)];
        if let Some(paid) = ctx.payment.as_mut() {
            let moment = Moment::Answered(local.status);
            match deliver::settle_at(&self.payments, snapshot, paid, moment, &mut ctx.outcome).await
            {
                Ok(settled) => {
                    headers.extend(settled);
                    headers.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.into()));
                }
                Err(failure) => {
                    if let Some(Pricing::Paid(c)) = ctx.route.as_ref().map(|r| &r.pricing) {
                        let version = paid.version;
                        let reply = Reply::settle_failure(c, &ctx.resource_url, &failure, version);
                        return reply.send(session, facts.is_head).await;
                    }
                }
            }
        }
        respond::send_local(session, local.status, headers, local.body, facts.is_head).await
    }
}

/// A head that some origin could read as naming another resource than the gateway does is refused
/// before routing: 400 (or 431 when too large).
fn refuse_malformed(facts: &RequestFacts, ctx: &mut RequestCtx) -> Option<Step> {
    let malformed = facts.malformed?;
    ctx.outcome = Outcome::BadRequest;
    let reply = match malformed {
        Malformed::Method => Reply::error(
            400,
            "invalid_method",
            "request methods are upper case (GET, POST, ...)",
        ),
        Malformed::MissingHost => Reply::error(
            400,
            "missing_host",
            "the request names no host: send a Host header",
        ),
        Malformed::InvalidHost => Reply::error(
            400,
            "invalid_host",
            "the request must carry exactly one valid Host",
        ),
        Malformed::Path(why) => Reply::error(400, "ambiguous_path", &why.to_string()),
        Malformed::TooLarge { len, max } => Reply::error(
            431,
            "request_headers_too_large",
            &format!("the request head is {len} bytes; at most {max} are accepted"),
        ),
    };
    Some(Step::Reply(reply))
}

/// A CORS preflight for a priced route is answered here: never charged, never forwarded.
fn preflight(snapshot: &Snapshot, facts: &RequestFacts, ctx: &mut RequestCtx) -> Option<Step> {
    let method = facts.preflight_method.as_ref()?;
    let m = snapshot.routes.find(method, &facts.host, &facts.path)?;
    if !matches!(m.policy.pricing, Pricing::Paid(_)) {
        return None;
    }
    ctx.route = Some(m.policy.clone());
    ctx.outcome = Outcome::Preflight;
    Some(Step::Reply(Reply::preflight(&format!("{method}, OPTIONS"))))
}

/// The first matching route; no route → the default origin (free), or 404 without one.
fn route(
    snapshot: &Snapshot,
    facts: &RequestFacts,
    ctx: &mut RequestCtx,
) -> Result<Arc<Route>, Step> {
    let Some(found) = snapshot
        .routes
        .find(&facts.method, &facts.host, &facts.path)
    else {
        ctx.origin = snapshot.default_origin.clone();
        return Err(match ctx.origin {
            Some(_) => {
                ctx.outcome = Outcome::Free;
                Step::Forward
            }
            None => {
                ctx.outcome = Outcome::NoRoute;
                Step::Reply(Reply::error(
                    404,
                    "no_route",
                    "no route matches this request",
                ))
            }
        });
    };
    let route = found.policy.clone();
    ctx.origin = Some(route.origin.clone());
    ctx.route = Some(route.clone());
    Ok(route)
}

//! The steps of `request_filter`, in order: refuse malformed heads (method case, host, size,
//! ambiguous paths), answer CORS preflights, find the route, price it (free / free method /
//! OPTIONS / `paywall::decide`), and serve the gateway's own directory origin. Each step either
//! decides the reply or lets the request go on.

use std::sync::Arc;

use pingora::proxy::Session;

use super::ctx::{Outcome, RequestCtx};
use super::deliver::{self, Moment};
use super::grant::{self, IdRefusal};
use super::identity::{self, Requester};
use super::paywall::{self, Verdict};
use super::request::{Malformed, RequestFacts};
use super::respond::{self, EXPOSE_HEADERS, Reply};
use super::tab_charge;
use super::toll::{self, TollStep};
use super::{Gateway, local};
use crate::access::payment_id;
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
        session: &mut Session,
    ) -> Step {
        if let Some(step) = refuse_malformed(facts, ctx).or_else(|| preflight(snapshot, facts, ctx))
        {
            return step;
        }
        if let Some(reply) = snapshot
            .toll
            .as_ref()
            .and_then(|b| toll::published(b, facts))
        {
            ctx.outcome = Outcome::Free;
            return Step::Reply(reply);
        }
        if let Some(step) = self.invoice(snapshot, facts, ctx, session).await {
            return step;
        }
        let route = match (route(snapshot, facts, ctx), &snapshot.toll_route) {
            (Ok(route), _) => route,
            // Unrouted requests to the default origin still meet the toll booth.
            (Err(Step::Forward), Some(toll_route)) => {
                ctx.route = Some(toll_route.clone());
                toll_route.clone()
            }
            (Err(step), _) => return step,
        };
        if let Some(booth) = snapshot.toll.as_ref() {
            match self
                .toll(snapshot, booth, &route, facts, session.req_header(), ctx)
                .await
            {
                TollStep::Route => {}
                TollStep::Free | TollStep::Tab => return Step::Forward,
                TollStep::Reply(reply) => return Step::Reply(reply),
                TollStep::Charge(challenge) => {
                    ctx.toll_challenge = Some(challenge.clone());
                    let step = self
                        .charge(snapshot, &route, &challenge, facts, ctx, session)
                        .await;
                    return match step {
                        Step::Reply(reply) => {
                            Step::Reply(toll::with_price_headers(reply, ctx.toll.as_ref()))
                        }
                        step => step,
                    };
                }
            }
        }
        self.price(snapshot, &route, facts, ctx, session).await
    }

    /// Free routes go on; OPTIONS is never charged; priced routes need a valid pass, sign-in or
    /// payment (in that order).
    async fn price(
        &self,
        snapshot: &Snapshot,
        route: &Route,
        facts: &RequestFacts,
        ctx: &mut RequestCtx,
        session: &mut Session,
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
        self.charge(snapshot, route, challenge, facts, ctx, session)
            .await
    }

    /// A request that must pay `challenge`'s price: a valid pass, sign-in or payment, else 402.
    pub(super) async fn charge(
        &self,
        snapshot: &Snapshot,
        route: &Route,
        challenge: &Challenge,
        facts: &RequestFacts,
        ctx: &mut RequestCtx,
        session: &mut Session,
    ) -> Step {
        let who = identity::classify(facts);
        let refused =
            match grant::before_payment(&self.payments, snapshot, route, challenge, facts).await {
                Ok(Some(grant)) => {
                    ctx.outcome = Outcome::Granted(grant.kind.label());
                    ctx.grant = Some(grant);
                    return Step::Forward;
                }
                Ok(None) => None,
                Err(reason) => Some(reason),
            };
        let paying = facts.payment_signature.is_some() || facts.x_payment.is_some();
        let fingerprint = if route.payment_id.is_some() && paying {
            match fingerprint(session, facts).await {
                Ok(fp) => Some(fp),
                Err(reply) => {
                    ctx.outcome = Outcome::BadRequest;
                    return Step::Reply(reply);
                }
            }
        } else {
            None
        };
        let presented = paywall::Presented {
            signature: facts.payment_signature.as_deref(),
            x_payment: facts.x_payment.as_deref(),
            resource_url: &facts.resource_url,
            client_ip: facts.limit_ip,
            fingerprint,
        };
        let verdict =
            match paywall::decide(&self.payments, snapshot, route, challenge, &presented).await {
                // No payment, and the pass or sign-in presented was refused: say why.
                Verdict::Challenge(Rejection::PaymentRequired) if refused.is_some() => {
                    Verdict::Challenge(Rejection::Access(refused.unwrap_or_default()))
                }
                verdict => verdict,
            };
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
            Verdict::Paid(mut paid) => match settlement.accept(&paid).await {
                Ok(Accept::Recorded) => Verdict::Paid(paid),
                Ok(Accept::Known(state)) => {
                    tracing::warn!(payer = %paid.payer, "payment already in the ledger as {state}");
                    grant::payment_dropped(&self.payments, &mut paid, false).await;
                    Verdict::Challenge(Rejection::AlreadyUsed)
                }
                Err(e) => {
                    tracing::error!(payer = %paid.payer, "ledger write failed, payment refused: {e}");
                    self.payments.metrics.ledger_write_failures.inc();
                    let _ = self.payments.guard.release(&paid.key).await;
                    grant::payment_dropped(&self.payments, &mut paid, false).await;
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
                // A browser asking without a payment (or with a spent pass) gets the paywall page;
                // a failed payment gets JSON.
                let unpaid = matches!(why, Rejection::PaymentRequired | Rejection::Access(_));
                let page = who == Requester::Browser && unpaid;
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
            Verdict::Granted(grant) => {
                ctx.outcome = Outcome::Granted(grant.kind.label());
                ctx.grant = Some(*grant);
                Step::Forward
            }
            Verdict::Identifier(why) => {
                ctx.outcome = Outcome::Identifier(why.label());
                Step::Reply(identifier_refused(why))
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
        if let Some(grant) = ctx.grant.as_ref() {
            headers.extend(grant.headers.iter().cloned());
        }
        let mut failed = None;
        if let Some(paid) = ctx.payment.as_mut() {
            let moment = Moment::Answered(local.status);
            match deliver::settle_at(&self.payments, snapshot, paid, moment, &mut ctx.outcome).await
            {
                Ok(settled) => {
                    headers.extend(settled);
                    headers.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.into()));
                }
                Err(failure) => failed = Some((failure, paid.version)),
            }
        }
        if let Some((failure, version)) = failed
            && let Some(c) = ctx.challenge()
        {
            let reply = Reply::settle_failure(c, &ctx.resource_url, &failure, version);
            return reply.send(session, facts.is_head).await;
        }
        let route_name = ctx.route_label().to_string();
        if let Some(charge) = ctx.toll.as_mut().and_then(|t| t.tab.as_mut()) {
            let mut head = pingora::http::ResponseHeader::build(local.status, None)?;
            let emit = snapshot
                .toll
                .as_ref()
                .is_some_and(|b| b.emit_cloudflare_headers);
            match tab_charge::answered(&self.payments, emit, &route_name, charge, &mut head).await {
                Ok(()) => headers.extend(tab_charge::charged_header(&head)),
                Err(reply) => return reply.send(session, facts.is_head).await,
            }
        }
        respond::send_local(session, local.status, headers, local.body, facts.is_head).await
    }
}

/// 400 for a missing or malformed payment identifier, 409 for one in use.
fn identifier_refused(why: IdRefusal) -> Reply {
    match why {
        IdRefusal::Missing => Reply::error(
            400,
            "payment_identifier_required",
            "this route requires a payment identifier (the `payment-identifier` extension's info.id)",
        ),
        IdRefusal::Invalid => Reply::error(
            400,
            "payment_identifier_invalid",
            "a payment identifier is 16-128 letters, digits, `_` or `-`",
        ),
        IdRefusal::Conflict => Reply::error(
            409,
            "payment_identifier_conflict",
            "this payment identifier was used for another request or by another payer",
        ),
        IdRefusal::InProgress => Reply::error(
            409,
            "payment_identifier_in_progress",
            "the first payment under this identifier is still being processed; retry shortly",
        ),
    }
}

/// The request's fingerprint for its payment identifier: method, URL and a digest of the
/// body, which is read here (at most `payment_id::MAX_BODY_BYTES`, 413 beyond) and then sent on
/// to the origin from Pingora's retry buffer.
async fn fingerprint(session: &mut Session, facts: &RequestFacts) -> Result<[u8; 32], Reply> {
    let too_large = || {
        Reply::error(
            413,
            "request_body_too_large",
            &format!(
                "a request paid with a payment identifier is fingerprinted; its body may be at most {} bytes",
                payment_id::MAX_BODY_BYTES
            ),
        )
    };
    let mut body = bytes::BytesMut::new();
    if !session.is_body_empty() {
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<usize>().ok());
        if declared.is_some_and(|n| n > payment_id::MAX_BODY_BYTES) {
            return Err(too_large());
        }
        session.enable_retry_buffering();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > payment_id::MAX_BODY_BYTES {
                        return Err(too_large());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("request body unreadable: {e}");
                    return Err(Reply::error(
                        400,
                        "request_body_unreadable",
                        "the request body could not be read",
                    ));
                }
            }
        }
    }
    Ok(payment_id::fingerprint(
        &facts.method,
        &facts.resource_url,
        &body,
    ))
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

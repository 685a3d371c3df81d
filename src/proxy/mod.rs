//! The request path, top to bottom, as Pingora phases (DESIGN.md "The request path").
//!
//! | phase | step |
//! |---|---|
//! | `request_filter` | snapshot → facts → route → preflight / free → who is asking (`identity`) → `paywall::decide` → reply or go on; a static origin is served here |
//! | `upstream_peer` | the route's origin pool (`forward::peer`) |
//! | `upstream_request_filter` | strip payment headers, set `X402-*` and `X-Forwarded-*` (`forward::rewrite`) |
//! | `response_filter` | `settle::after_origin`: settle before the first byte goes out, add `PAYMENT-RESPONSE` |
//! | `fail_to_proxy` | settlement failed → 402; origin unreachable → 502/503 (`respond`) |
//! | `logging` | give back unsettled claims, metrics, access log |
//!
//! This module orchestrates; protocol detail lives in `x402/`, `evm/`, decisions in `paywall.rs`
//! and `settle.rs`, responses in `respond.rs`.

pub mod ctx;
mod forward;
pub mod identity;
mod local;
pub mod paywall;
mod paywall_page;
pub mod request;
pub mod respond;
mod settle;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::http::ResponseHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};

use crate::config::reload::LiveConfig;
use crate::snapshot::{OriginKind, Pricing, Route, Snapshot};
use crate::x402::challenge::Challenge;
use crate::x402::reason::Rejection;
use ctx::{Outcome, PaymentState, RequestCtx};
use identity::Requester;
use paywall::{Payments, Verdict};
use request::RequestFacts;
use respond::{EXPOSE_HEADERS, Reply};
use settle::SettleOutcome;

/// The x402 gateway proxy.
pub struct Gateway {
    pub config: Arc<LiveConfig>,
    pub payments: Payments,
}

/// What `request_filter` decided.
enum Step {
    Forward,
    Reply(Reply),
}

impl Gateway {
    /// Route, price and (for priced routes) check the payment: the steps of `request_filter`.
    async fn decide(
        &self,
        snapshot: &Snapshot,
        facts: &RequestFacts,
        ctx: &mut RequestCtx,
    ) -> Step {
        if let Some(step) = refuse_ambiguous(facts, ctx).or_else(|| preflight(snapshot, facts, ctx))
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
        let who = identity::classify(facts);
        let verdict = paywall::decide(
            &self.payments,
            snapshot.verifier.as_ref(),
            challenge,
            facts.payment_signature.as_deref(),
            facts.x_payment.as_deref(),
            &facts.resource_url,
            snapshot.max_payment_header_bytes,
        )
        .await;
        self.answer(verdict, route, challenge, facts, who, ctx)
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
    async fn serve_local(
        &self,
        root: &std::path::Path,
        session: &mut Session,
        ctx: &mut RequestCtx,
        facts: &RequestFacts,
    ) -> pingora::Result<()> {
        let local = local::serve(root, &facts.method, &facts.path).await;
        let mut reply = Reply {
            status: local.status,
            headers: vec![("Content-Type", local.content_type.to_string())],
            body: local.body,
        };
        if let Some(paid) = ctx.payment.as_mut() {
            let settler = ctx.snapshot.as_ref().map(|s| s.settler.clone());
            if let Some(settler) = settler {
                match settle::after_origin(&self.payments, settler.as_ref(), paid, local.status)
                    .await
                {
                    SettleOutcome::Settled(r) => {
                        let (name, value) = r.header(paid.version);
                        reply.headers.push((name, value));
                        reply.headers.push(("Cache-Control", "no-store".into()));
                        reply
                            .headers
                            .push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.into()));
                    }
                    SettleOutcome::NotCharged => ctx.outcome = Outcome::OriginError,
                    SettleOutcome::Failed(r) => {
                        ctx.outcome = Outcome::SettleFailed;
                        if let Some(Pricing::Paid(c)) = ctx.route.as_ref().map(|r| &r.pricing) {
                            reply =
                                Reply::settlement_failed(c, &ctx.resource_url, &r, paid.version);
                        }
                    }
                }
            }
        }
        reply.send(session, facts.is_head).await
    }
}

/// An encoded `/` or a `\\` could name one resource here and another at the origin: 400.
fn refuse_ambiguous(facts: &RequestFacts, ctx: &mut RequestCtx) -> Option<Step> {
    facts.ambiguous_path.then(|| {
        ctx.outcome = Outcome::BadRequest;
        let message = "encoded '/' and '\\' are not accepted in the path";
        Step::Reply(Reply::error(400, "ambiguous_path", message))
    })
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

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// No downstream modules: the default adds a (disabled) compression module to every request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        let snapshot = self.config.snapshot();
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let facts = RequestFacts::read(session.req_header(), client_ip, &snapshot);
        ctx.client_ip = client_ip;
        ctx.resource_url.clone_from(&facts.resource_url);
        let step = self.decide(&snapshot, &facts, ctx).await;
        ctx.snapshot = Some(snapshot);
        ctx.forwarded = facts.forwarded.clone();
        if facts.path != session.req_header().uri.path() {
            ctx.normalized_path = Some(facts.path.clone());
        }
        match step {
            Step::Reply(reply) => reply.send(session, facts.is_head).await.map(|()| true),
            Step::Forward => match ctx.origin.as_ref().map(|o| &o.kind) {
                Some(OriginKind::Static(root)) => {
                    let root = root.clone();
                    self.serve_local(&root, session, ctx, &facts)
                        .await
                        .map(|()| true)
                }
                _ => Ok(false),
            },
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        match ctx.origin.as_ref().map(|o| &o.kind) {
            Some(OriginKind::Upstream(up)) => forward::peer(up),
            _ => Err(Error::explain(
                ErrorType::InternalError,
                "request has no upstream origin",
            )),
        }
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut pingora::http::RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Some(OriginKind::Upstream(up)) = ctx.origin.as_ref().map(|o| &o.kind) {
            let path = ctx.normalized_path.as_deref();
            forward::rewrite(
                upstream_request,
                path,
                up,
                &ctx.forwarded,
                ctx.payment.as_ref(),
            )?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let status = response.status.as_u16();
        let priced = ctx
            .route
            .as_ref()
            .is_some_and(|r| matches!(r.pricing, Pricing::Paid(_)));
        if priced && status >= 200 {
            response.insert_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)?;
        }
        let (Some(paid), Some(snapshot)) = (ctx.payment.as_mut(), ctx.snapshot.as_ref()) else {
            return Ok(());
        };
        if paid.state != PaymentState::Verified || status < 200 {
            return Ok(());
        }
        match settle::after_origin(&self.payments, snapshot.settler.as_ref(), paid, status).await {
            SettleOutcome::Settled(r) => {
                let (name, value) = r.header(paid.version);
                response.insert_header(name, value)?;
                response.insert_header("Cache-Control", "no-store")?;
                Ok(())
            }
            SettleOutcome::NotCharged => {
                ctx.outcome = Outcome::OriginError;
                Ok(())
            }
            SettleOutcome::Failed(r) => {
                ctx.settle_failure = Some(r);
                ctx.outcome = Outcome::SettleFailed;
                Err(Error::explain(
                    ErrorType::HTTPStatus(402),
                    "settlement failed",
                ))
            }
        }
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let (reply, code) = match (
            ctx.settle_failure.take(),
            ctx.route.as_ref().map(|r| &r.pricing),
        ) {
            (Some(settle), Some(Pricing::Paid(challenge))) => {
                let version = ctx
                    .payment
                    .as_ref()
                    .map_or(crate::x402::Version::V2, |p| p.version);
                (
                    Reply::settlement_failed(challenge, &ctx.resource_url, &settle, version),
                    402,
                )
            }
            _ => {
                let code = match e.etype() {
                    ErrorType::HTTPStatus(code) => *code,
                    _ if *e.esource() == ErrorSource::Upstream => 502,
                    _ if *e.esource() == ErrorSource::Downstream => 0,
                    _ => 500,
                };
                let message = match code {
                    503 => "no healthy origin server",
                    502 => "the origin could not be reached or answered badly; nothing was charged",
                    _ => "the request could not be completed",
                };
                (Reply::error(code.max(400), "origin_error", message), code)
            }
        };
        if code > 0 && session.response_written().is_none() {
            // Pingora closes the connection after a failed proxy. Turn keepalive off first, so the
            // response says `Connection: close` (Pingora writes that header from this state) and
            // no client sends its next request on a socket about to close.
            session.set_keepalive(None);
            let head_only = session.req_header().method == http::Method::HEAD;
            if let Err(err) = reply.send(session, head_only).await {
                tracing::debug!("could not send the error response: {err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        if let Some(paid) = ctx.payment.as_mut()
            && paid.state == PaymentState::Verified
        {
            // Verified but never settled (origin unreachable, client gone): nothing was charged.
            let _ = self.payments.guard.release(&paid.key).await;
            paid.state = PaymentState::Released;
            self.payments.metrics.payment("released");
            if ctx.outcome == Outcome::Paid {
                ctx.outcome = Outcome::OriginError;
            }
        }
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let route = ctx.route_label().to_string();
        self.payments
            .metrics
            .requests
            .with_label_values(&[route.as_str(), ctx.outcome.label()])
            .inc();
        let req = session.req_header();
        tracing::info!(
            target: "access",
            method = %req.method,
            uri = %req.uri,
            status,
            route = %route,
            outcome = ctx.outcome.label(),
            payer = ctx.payment.as_ref().map_or("-", |p| p.payer.as_str()),
            amount = ctx.payment.as_ref().map_or("-", |p| p.amount.as_str()),
            ms = ctx.started.elapsed().as_millis() as u64,
        );
    }
}

//! The request path, top to bottom, as Pingora phases (DESIGN.md "The request path").
//!
//! | phase | step |
//! |---|---|
//! | (accept) | `connection::GuardedApp`: connection limit, head deadline, idle timeout |
//! | `request_filter` | snapshot → the canonical view (`request::RequestFacts`) → `steps::decide` (malformed head → preflight → route → the toll booth (`toll`: who is asking, allow / block / charge a crawler, its tab in `tab_charge`) → free / free method / who is asking (`identity`) / a pass or sign-in (`grant`) / `paywall::decide` (with its payment identifier) → written to the ledger → `settle = "before"` settles) → reply or go on; a static origin is served here (`steps::serve_local`) |
//! | `upstream_peer` | the route's origin pool (`forward::peer`) |
//! | `upstream_request_filter` | origin-form target, strip payment, gateway-set (any spelling), rewrite and `_` headers, set `X402-*` and `X-Forwarded-*` (`forward::rewrite`) |
//! | `response_filter` | `deliver::settle_at`: settle (`after`) or record as owed (`background`) before the first byte goes out (a `101` switch settles), add `PAYMENT-RESPONSE` and the pass |
//! | `fail_to_proxy` | settlement refused → 402; outcome unknown → 503; origin unreachable → 502/503 (`respond`) |
//! | `logging` | `deliver::finish`: give back unsettled claims, queue delivered background payments, record paid-not-delivered; a pass use not delivered is given back; metrics, access log; the connection waits for its next request |
//!
//! This module orchestrates; protocol detail lives in `x402/`, `evm/`, decisions in `steps.rs`,
//! `paywall.rs`, `deliver.rs` (the one door to settlement) and `settle.rs`, responses in `respond.rs`.

pub mod connection;
pub mod ctx;
pub mod deliver;
mod forward;
pub mod grant;
pub mod identity;
pub mod invoice;
mod local;
pub mod paywall;
mod paywall_page;
pub mod request;
pub mod respond;
pub mod settle;
mod steps;
pub mod tab_charge;
pub mod toll;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::http::ResponseHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};

use crate::config::reload::LiveConfig;
use crate::snapshot::OriginKind;
use ctx::{Outcome, RequestCtx};
use deliver::Moment;
use paywall::Payments;
use request::RequestFacts;
use respond::{EXPOSE_HEADERS, Reply};
use steps::Step;

/// The x402 gateway proxy.
pub struct Gateway {
    pub config: Arc<LiveConfig>,
    pub payments: Payments,
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
        connection::head_done();
        let snapshot = self.config.snapshot();
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let mut facts = RequestFacts::read(session.req_header(), client_ip, tls, &snapshot);
        ctx.client_ip = client_ip;
        let step = self.decide(&snapshot, &facts, ctx, session).await;
        ctx.snapshot = Some(snapshot.clone());
        ctx.resource_url = std::mem::take(&mut facts.resource_url);
        ctx.forwarded = std::mem::take(&mut facts.forwarded);
        ctx.normalized_path = facts.forward_path.take();
        ctx.absolute_authority = facts.absolute_authority.take();
        match step {
            Step::Reply(reply) => reply.send(session, facts.is_head).await.map(|()| true),
            Step::Forward => match ctx.origin.as_ref().map(|o| &o.kind) {
                Some(OriginKind::Static(root)) => {
                    let root = root.clone();
                    self.serve_local(&root, &snapshot, session, ctx, &facts)
                        .await
                        .map(|()| true)
                }
                Some(OriginKind::Invoice) => self
                    .serve_invoice(&snapshot, session, ctx, &facts)
                    .await
                    .map(|()| true),
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
        if let (Some(OriginKind::Upstream(up)), Some(snapshot)) =
            (ctx.origin.as_ref().map(|o| &o.kind), ctx.snapshot.as_ref())
        {
            let target = forward::Target {
                path: ctx.normalized_path.as_deref(),
                authority: ctx.absolute_authority.as_deref(),
            };
            forward::rewrite(
                upstream_request,
                target,
                &snapshot.request_rules,
                up,
                &ctx.forwarded,
                forward::Payer::of(ctx.payment.as_ref(), ctx.grant.as_ref()),
            )?;
        }
        if let Some(toll) = ctx.toll.as_ref() {
            upstream_request.insert_header("X402-Crawler", &*toll.crawler)?;
            upstream_request.insert_header(
                "X402-Crawler-Identity",
                format!("{}; method={}", toll.outcome, toll.method),
            )?;
            upstream_request.insert_header(
                crate::toll::cloudflare::PAY_PER_CRAWL,
                tab_charge::origin_hint(toll.tab.as_ref()),
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
        let priced = ctx.challenge().is_some();
        if let Some(snapshot) = ctx.snapshot.as_ref().filter(|s| s.toll.is_some()) {
            let emit = snapshot
                .toll
                .as_ref()
                .is_some_and(|b| b.emit_cloudflare_headers);
            let route = ctx.route_label().to_string();
            match ctx.toll.as_mut().and_then(|t| t.tab.as_mut()) {
                Some(charge) => {
                    if let Err(reply) =
                        tab_charge::answered(&self.payments, emit, &route, charge, response).await
                    {
                        ctx.failure_reply = Some(reply);
                        return Err(Error::explain(
                            ErrorType::InternalError,
                            "the crawler charge was refused",
                        ));
                    }
                }
                // An in-band price is for the gateway, never the client (402s excepted).
                None if status != 402 => {
                    response.remove_header(crate::toll::cloudflare::CRAWLER_PRICE);
                }
                None => {}
            }
        }
        if priced && status >= 200 {
            response.insert_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)?;
        }
        // An idempotent replay answers with its first payment's headers.
        if let Some(grant) = ctx.grant.as_ref() {
            add_headers(response, grant.headers.iter().cloned())?;
        }
        let (Some(paid), Some(snapshot)) = (ctx.payment.as_mut(), ctx.snapshot.as_ref()) else {
            return Ok(());
        };
        // Informational answers (100, 103) are not the delivery; a 101 switch is.
        if status < 200 && status != 101 {
            return Ok(());
        }
        let moment = Moment::Answered(status);
        match deliver::settle_at(&self.payments, snapshot, paid, moment, &mut ctx.outcome).await {
            Ok(headers) => add_headers(response, headers),
            Err(failure) => {
                ctx.settle_failure = Some(*failure);
                Err(Error::explain(
                    ErrorType::InternalError,
                    "settlement did not complete",
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
        let version = ctx
            .payment
            .as_ref()
            .map_or(crate::x402::Version::V2, |p| p.version);
        let failure_reply = ctx.failure_reply.take();
        let (reply, code) = match (ctx.settle_failure.take(), ctx.challenge(), failure_reply) {
            (_, _, Some(reply)) => {
                let code = reply.status;
                (reply, code)
            }
            (Some(failure), Some(challenge), None) => {
                let reply = Reply::settle_failure(challenge, &ctx.resource_url, &failure, version);
                let code = reply.status;
                (reply, code)
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

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        // A whole successful response reached the client (a 101 switch counts).
        let delivered = e.is_none() && (200..400).contains(&status) || status == 101;
        if let (Some(paid), Some(snapshot)) = (ctx.payment.as_mut(), ctx.snapshot.as_ref()) {
            let released = deliver::finish(&self.payments, snapshot, paid, delivered).await;
            if released && ctx.outcome == Outcome::Paid {
                ctx.outcome = Outcome::OriginError;
            }
        }
        if let Some(grant) = ctx.grant.as_ref() {
            grant::finish(&self.payments, grant, delivered).await;
        }
        let route = ctx.route_label().to_string();
        self.payments
            .metrics
            .requests
            .with_label_values(&[route.as_str(), ctx.outcome.label()])
            .inc();
        let req = session.req_header();
        let query_shown = ctx.snapshot.as_ref().is_none_or(|s| s.access_log_query);
        // Formatted only if the access log is on.
        let uri = LoggedUri(&req.uri, query_shown);
        tracing::info!(
            target: "access",
            method = %req.method,
            uri = %uri,
            status,
            route = %route,
            outcome = ctx.outcome.label(),
            payer = ctx.payment.as_ref().map_or("-", |p| p.payer.as_str()),
            crawler = ctx.toll.as_ref().map_or("-", |t| &*t.crawler),
            identity = ctx.toll.as_ref().map_or("-", |t| t.outcome),
            identity_method = ctx.toll.as_ref().map_or("-", |t| t.method),
            crawler_price = ctx.toll.as_ref().and_then(|t| t.price).map_or(0, |p| p.0),
            amount = ctx.payment.as_ref().map_or("-", |p| p.amount.as_str()),
            ms = ctx.started.elapsed().as_millis() as u64,
        );
        connection::request_done();
    }
}

/// Adds gateway headers to a response: `Set-Cookie` beside the origin's, every other one in
/// place of any the origin sent.
fn add_headers(
    response: &mut ResponseHeader,
    headers: impl IntoIterator<Item = (&'static str, String)>,
) -> pingora::Result<()> {
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("set-cookie") {
            response.append_header(name, value)?;
        } else {
            response.insert_header(name, value)?;
        }
    }
    Ok(())
}

/// A request URI in the access log, with or without its query (`[access_log] query`).
struct LoggedUri<'a>(&'a http::Uri, bool);

impl std::fmt::Display for LoggedUri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.1 {
            write!(f, "{}", self.0)
        } else {
            f.write_str(self.0.path())
        }
    }
}

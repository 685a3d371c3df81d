//! Forwarding to an upstream origin: peer selection and the request rewrite.
//!
//! Payment headers never reach the origin; the origin learns the payer and amount from headers the
//! gateway sets (`X402-Payer`, `X402-Amount`, `X402-Asset`, `X402-Network`), and any client-sent
//! copies of those are removed first, so an origin can trust them.

use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorType};

use super::ctx::PaidRequest;
use super::request::Forwarded;
use crate::snapshot::Upstream;

/// Headers the gateway sets for the origin; client-sent copies are dropped.
pub const GATEWAY_HEADERS: [&str; 5] = [
    "x402-payer",
    "x402-amount",
    "x402-asset",
    "x402-network",
    "x402-version",
];
/// Payment headers that never reach the origin.
pub const STRIPPED_HEADERS: [&str; 2] = ["payment-signature", "x-payment"];

/// The next healthy server of an origin.
pub fn peer(upstream: &Upstream) -> pingora::Result<Box<HttpPeer>> {
    let backend = upstream
        .balancer
        .select(b"", 256)
        .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "no healthy origin server"))?;
    let mut peer = HttpPeer::new(backend.addr, upstream.tls, upstream.sni.clone());
    peer.options.connection_timeout = Some(upstream.connect_timeout);
    peer.options.read_timeout = Some(upstream.read_timeout);
    peer.options.verify_cert = upstream.tls_verify;
    peer.options.verify_hostname = upstream.tls_verify;
    peer.options.ca.clone_from(&upstream.ca);
    Ok(Box::new(peer))
}

/// Rewrites the request for the origin. `path` replaces the request path (the query is kept) when
/// normalization changed it.
pub fn rewrite(
    req: &mut RequestHeader,
    path: Option<&str>,
    upstream: &Upstream,
    fwd: &Forwarded,
    paid: Option<&PaidRequest>,
) -> pingora::Result<()> {
    if let Some(path) = path {
        let target = match req.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let uri = http::Uri::try_from(target)
            .map_err(|e| Error::explain(ErrorType::InvalidHTTPHeader, e.to_string()))?;
        req.set_uri(uri);
    }
    for name in STRIPPED_HEADERS.iter().chain(GATEWAY_HEADERS.iter()) {
        req.remove_header(*name);
    }
    if let Some(host) = &upstream.host_header {
        req.insert_header("Host", host.as_str())?;
    }
    if !fwd.for_chain.is_empty() {
        req.insert_header("X-Forwarded-For", fwd.for_chain.as_str())?;
    }
    req.insert_header("X-Forwarded-Proto", fwd.proto.as_str())?;
    if !fwd.host.is_empty() {
        req.insert_header("X-Forwarded-Host", fwd.host.as_str())?;
    }
    if let Some(p) = paid {
        req.insert_header("X402-Payer", p.payer.as_str())?;
        req.insert_header("X402-Amount", p.amount.as_str())?;
        req.insert_header("X402-Asset", p.asset.as_str())?;
        req.insert_header("X402-Network", p.network.as_str())?;
        req.insert_header("X402-Version", p.version.label())?;
    }
    Ok(())
}

//! Forwarding to an upstream origin: peer selection and the request rewrite.
//!
//! Payment headers never reach the origin; the origin learns the payer and amount from headers the
//! gateway sets (`X402-Payer`, `X402-Amount`, `X402-Asset`, `X402-Network`, `X402-Version`), and
//! any client-sent header whose name folds onto one of those (or onto `X-Forwarded-*`) is removed
//! first, whatever its case or `_`/`-` spelling: CGI, WSGI and Rack read `X402_Payer` as
//! `X402-Payer`. Headers with `_` are dropped by default (as nginx does), and the rewrite headers
//! that let a request name another method or URL (`X-HTTP-Method-Override`, `X-Original-URL`, …)
//! never pass. An absolute-form target is sent in origin form, with its authority as `Host`.

use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorType};

use super::ctx::PaidRequest;
use super::grant::Grant;
use super::request::Forwarded;
use crate::snapshot::{RequestRules, Upstream};

/// Headers the gateway sets for the origin; client-sent copies, in any spelling, are dropped.
pub const GATEWAY_HEADERS: [&str; 12] = [
    "x402-payer",
    "x402-crawler",
    "x402-crawler-identity",
    "cf-pay-per-crawl",
    "x402-access",
    "x402-amount",
    "x402-asset",
    "x402-network",
    "x402-version",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];
/// Payment and access headers that never reach the origin (nor does the `x402-pass` cookie).
pub const STRIPPED_HEADERS: [&str; 4] = [
    "payment-signature",
    "x-payment",
    "x402-pass",
    "sign-in-with-x",
];

/// Who pays for a forwarded request, as the origin is told.
#[derive(Debug, Clone, Copy)]
pub enum Payer<'a> {
    None,
    /// Paid by this request.
    Paid(&'a PaidRequest),
    /// Let through by a pass, a sign-in or an idempotent replay.
    Granted(&'a Grant),
}

impl<'a> Payer<'a> {
    pub fn of(paid: Option<&'a PaidRequest>, grant: Option<&'a Grant>) -> Self {
        match (paid, grant) {
            (Some(p), _) => Self::Paid(p),
            (None, Some(g)) => Self::Granted(g),
            (None, None) => Self::None,
        }
    }
}

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

/// What the origin is sent instead of what the client wrote.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Replaces the request path (the query is kept) when normalization changed it.
    pub path: Option<&'a str>,
    /// The absolute-form authority: sent as `Host`, the target in origin form.
    pub authority: Option<&'a str>,
}

/// Rewrites the request for the origin.
pub fn rewrite(
    req: &mut RequestHeader,
    target: Target<'_>,
    rules: &RequestRules,
    upstream: &Upstream,
    fwd: &Forwarded,
    payer: Payer<'_>,
) -> pingora::Result<()> {
    if target.path.is_some() || target.authority.is_some() {
        let path = target.path.unwrap_or_else(|| req.uri.path());
        let origin_form = match req.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let uri = http::Uri::try_from(origin_form)
            .map_err(|e| Error::explain(ErrorType::InvalidHTTPHeader, e.to_string()))?;
        req.set_uri(uri);
    }
    if let Some(authority) = target.authority {
        req.insert_header("Host", authority)?;
    }
    strip_headers(req, rules);
    strip_pass_cookie(req);
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
    match payer {
        Payer::Paid(p) => {
            req.insert_header("X402-Payer", p.payer.as_str())?;
            req.insert_header("X402-Amount", p.amount.as_str())?;
            req.insert_header("X402-Asset", p.asset.as_str())?;
            req.insert_header("X402-Network", p.network.as_str())?;
            req.insert_header("X402-Version", p.version.label())?;
            req.insert_header("X402-Access", "payment")?;
        }
        Payer::Granted(g) => {
            req.insert_header("X402-Payer", g.payer.as_str())?;
            req.insert_header("X402-Access", g.kind.label())?;
        }
        Payer::None => {}
    }
    Ok(())
}

/// Removes the `x402-pass` cookie from `Cookie` headers (a header left empty goes).
fn strip_pass_cookie(req: &mut RequestHeader) {
    let carries = |v: &http::HeaderValue| {
        v.to_str().is_ok_and(|s| {
            s.split(';')
                .any(|pair| pair.trim_start().starts_with(PASS_COOKIE_PREFIX))
        })
    };
    if !req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .any(carries)
    {
        return;
    }
    let kept: Vec<String> = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|pair| !pair.starts_with(PASS_COOKIE_PREFIX) && !pair.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|v| !v.is_empty())
        .collect();
    req.remove_header(&http::header::COOKIE);
    for value in kept {
        // Pieces of a header that was valid stay valid.
        let _ = req.append_header(http::header::COOKIE, value);
    }
}

/// `x402-pass=`: the pass cookie's name and its `=`.
const PASS_COOKIE_PREFIX: &str = "x402-pass=";

/// Removes payment headers, every header folding onto a gateway-set or configured name, and
/// (when configured) every header with `_`. No allocation unless something is removed.
fn strip_headers(req: &mut RequestHeader, rules: &RequestRules) {
    let doomed: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            rules.drop_underscore_headers && name.contains('_')
                || STRIPPED_HEADERS.iter().any(|s| folds_to(name, s))
                || GATEWAY_HEADERS.iter().any(|s| folds_to(name, s))
                || rules.strip_headers.iter().any(|s| folds_to(name, s))
        })
        .cloned()
        .collect();
    for name in doomed {
        req.remove_header(&name);
    }
}

/// Whether a (lowercase) header name equals `target` once `_` is read as `-`, as CGI reads it.
fn folds_to(name: &str, target: &str) -> bool {
    name.len() == target.len()
        && name
            .bytes()
            .zip(target.bytes())
            .all(|(a, b)| a == b || a == b'_' && b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(drop_underscore: bool) -> RequestRules {
        RequestRules {
            max_header_bytes: 32768,
            drop_underscore_headers: drop_underscore,
            strip_headers: vec!["x-original-url".into()],
            host_scoped: false,
        }
    }

    #[test]
    fn strips_every_spelling_of_gateway_and_rewrite_headers() {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        for (name, value) in [
            ("X402-PAYER", "0xa"),
            ("X402_Payer", "0xb"),
            ("x_forwarded_for", "1.2.3.4"),
            ("X-Original-URL", "/paid"),
            ("X_Original_URL", "/paid"),
            ("Payment-Signature", "abc"),
            ("Some_Header", "v"),
            ("Accept", "*/*"),
        ] {
            req.append_header(name.to_string(), value).unwrap();
        }
        strip_headers(&mut req, &rules(false));
        let mut left: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "some_header"]);
        strip_headers(&mut req, &rules(true));
        let left: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(left, ["accept"]);
    }
}

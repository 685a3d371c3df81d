//! What the gateway needs to know about an incoming request, read once from its head: the one
//! canonical view used both for pricing and for forwarding.
//!
//! - method: as sent; one that is not all upper case is refused (many origins fold `get` to GET).
//! - host: the absolute-form target's authority when there is one (RFC 9112 §3.2.2: it wins over
//!   `Host`, and the origin is sent it as `Host`), else `Host`; lowercased, without port.
//! - path: the pricing view (`routes::pricing_path`: `;params`, trailing dots folded) for route
//!   matching, and the normalized client spelling for the origin.
//!
//! `X-Forwarded-Proto/Host/For` are believed only from `server.trusted_proxies` (spec §9: proxies
//! rewriting the resource URL); `server.public_url` overrides both.

use std::borrow::Cow;
use std::net::IpAddr;

use pingora::http::RequestHeader;

use crate::access::pass::{COOKIE as PASS_COOKIE, HEADER as PASS_HEADER};
use crate::access::siwx::HEADER as SIGN_IN_HEADER;
use crate::routes::{AmbiguousPath, normalize_path, pricing_path};
use crate::snapshot::Snapshot;
use crate::x402::{PAYMENT_SIGNATURE, X_PAYMENT};

/// What is wrong with a request head that is refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The method is not all upper case.
    Method,
    /// No host (HTTP/1.1 without `Host`, or HTTP/1.0 without one where routes name hosts).
    MissingHost,
    /// Several `Host` headers, or one that is not a host name.
    InvalidHost,
    /// The path has no safe reading (see `routes::canonical`).
    Path(AmbiguousPath),
    /// The head is larger than `max_request_header_bytes`.
    TooLarge { len: usize, max: usize },
}

/// Facts about one request.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub method: String,
    /// Host without port, lowercased; empty when unknown.
    pub host: String,
    /// The pricing view of the path, for route matching.
    pub path: String,
    /// The normalized client spelling for the origin, when normalization changed the request's
    /// path (`None`: the origin gets the path as sent).
    pub forward_path: Option<String>,
    /// Why the request is refused before routing, if it is.
    pub malformed: Option<Malformed>,
    /// The absolute-form target's authority: the origin is sent an origin-form target and this
    /// as `Host`, so it routes the request by the host it was priced by.
    pub absolute_authority: Option<String>,
    /// Whom per-client limits count: the peer, or the client a trusted proxy names.
    pub limit_ip: Option<IpAddr>,
    pub client_ip: Option<IpAddr>,
    /// The URL clients see, for `resource.url`.
    pub resource_url: String,
    pub is_head: bool,
    /// `Access-Control-Request-Method` of a CORS preflight.
    pub preflight_method: Option<String>,
    /// `Accept` has `text/html` and the user agent says `Mozilla` (spec §8.4).
    pub browser: bool,
    pub payment_signature: Option<Vec<u8>>,
    pub x_payment: Option<Vec<u8>>,
    /// Passes presented: `X402-Pass` headers, then `x402-pass` cookies (at most [`MAX_PASSES`]).
    pub passes: Vec<String>,
    /// Raw `SIGN-IN-WITH-X` value.
    pub sign_in: Option<Vec<u8>>,
    pub forwarded: Forwarded,
}

/// Passes looked at per request: a client has no reason to send more.
pub const MAX_PASSES: usize = 4;

/// The passes a request carries, headers first.
fn passes(req: &RequestHeader) -> Vec<String> {
    let headers = req
        .headers
        .get_all(PASS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    let cookies = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(PASS_COOKIE)?.strip_prefix('='))
        .map(|v| v.trim().to_string());
    headers
        .chain(cookies)
        .filter(|v| !v.is_empty())
        .take(MAX_PASSES)
        .collect()
}

/// The `X-Forwarded-*` values to send the origin.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    pub for_chain: String,
    pub proto: String,
    pub host: String,
}

fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

impl RequestFacts {
    /// Reads the facts from a request head; `tls` says whether it arrived on an HTTPS listener.
    pub fn read(
        req: &RequestHeader,
        client_ip: Option<IpAddr>,
        tls: bool,
        snapshot: &Snapshot,
    ) -> Self {
        let own_proto = if tls { "https" } else { "http" };
        let method = req.method.as_str().to_string();
        let absolute_authority = absolute_authority(req);
        let mut hosts = req.headers.get_all(http::header::HOST).iter();
        let (first_host, second_host) = (hosts.next(), hosts.next());
        let host_header = absolute_authority
            .clone()
            .or_else(|| first_host.and_then(|v| v.to_str().ok()).map(str::to_string))
            .or_else(|| req.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let rules = &snapshot.request_rules;
        let host_malformed = if second_host.is_some() && absolute_authority.is_none()
            || !is_host_text(&host_header)
        {
            Some(Malformed::InvalidHost)
        } else if host_header.is_empty()
            && (req.version != http::Version::HTTP_10 || rules.host_scoped)
        {
            Some(Malformed::MissingHost)
        } else {
            None
        };
        let trusted = snapshot.is_trusted_proxy(client_ip);
        let peer = client_ip.map(|ip| ip.to_string()).unwrap_or_default();
        let forwarded = if trusted {
            Forwarded {
                for_chain: match header(req, "x-forwarded-for") {
                    Some(prev) if !prev.is_empty() => format!("{prev}, {peer}"),
                    _ => peer,
                },
                proto: header(req, "x-forwarded-proto")
                    .unwrap_or(own_proto)
                    .to_string(),
                host: header(req, "x-forwarded-host")
                    .map_or_else(|| host_header.clone(), str::to_string),
            }
        } else {
            Forwarded {
                for_chain: peer,
                proto: own_proto.into(),
                host: host_header.clone(),
            }
        };
        let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let resource_url = match &snapshot.public_url {
            Some(base) => format!("{base}{path_and_query}"),
            None => format!("{}://{}{path_and_query}", forwarded.proto, forwarded.host),
        };
        let match_host = host_header
            .rsplit_once(':')
            .filter(|(_, port)| {
                port.bytes().all(|b| b.is_ascii_digit()) && !host_header.ends_with(']')
            })
            .map_or(host_header.as_str(), |(h, _)| h)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let text = |name| req.headers.get(name).and_then(|v| v.to_str().ok());
        let accept = text(http::header::ACCEPT).unwrap_or("");
        let agent = text(http::header::USER_AGENT).unwrap_or("");
        let preflight_method = (method == "OPTIONS")
            .then(|| {
                header(req, "access-control-request-method").map(|m| m.trim().to_ascii_uppercase())
            })
            .flatten();
        let raw_path = req.uri.path();
        let (path, path_malformed) = match pricing_path(raw_path) {
            Ok(p) => (p, None),
            Err(why) => (normalize_path(raw_path), Some(Malformed::Path(why))),
        };
        // A path with nothing to fold needs no normalizing either (no `//`, dots or escapes).
        let forward_path = match &path {
            Cow::Borrowed(_) => None,
            Cow::Owned(_) => Some(normalize_path(raw_path)).filter(|p| p != raw_path),
        }
        .map(Cow::into_owned);
        let path = path.into_owned();
        let head_len = head_bytes(req);
        let malformed = if head_len > rules.max_header_bytes {
            Some(Malformed::TooLarge {
                len: head_len,
                max: rules.max_header_bytes,
            })
        } else if method.bytes().any(|b| !b.is_ascii_uppercase()) {
            Some(Malformed::Method)
        } else {
            host_malformed.or(path_malformed)
        };
        let limit_ip = if trusted {
            header(req, "x-forwarded-for")
                .and_then(|chain| chain.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok())
                .or(client_ip)
        } else {
            client_ip
        };
        Self {
            is_head: method == "HEAD",
            host: match_host,
            path,
            forward_path,
            malformed,
            absolute_authority,
            limit_ip,
            client_ip,
            resource_url,
            preflight_method,
            browser: accept.contains("text/html") && agent.contains("Mozilla"),
            payment_signature: req
                .headers
                .get(PAYMENT_SIGNATURE)
                .map(|v| v.as_bytes().to_vec()),
            x_payment: req.headers.get(X_PAYMENT).map(|v| v.as_bytes().to_vec()),
            // Without access keys no pass can be valid: cookies are not looked through.
            passes: if snapshot.access.keys.is_some() {
                passes(req)
            } else {
                Vec::new()
            },
            sign_in: req
                .headers
                .get(SIGN_IN_HEADER)
                .map(|v| v.as_bytes().to_vec()),
            forwarded,
            method,
        }
    }
}

/// The authority of an absolute-form target (`GET http://host/path`), if the target is one.
fn absolute_authority(req: &RequestHeader) -> Option<String> {
    use pingora::protocols::http::authority::{RawTargetAuthority, raw_target_authority};
    match raw_target_authority(req.raw_path()) {
        RawTargetAuthority::Absolute { authority, .. } => {
            std::str::from_utf8(authority).ok().map(str::to_string)
        }
        _ => None,
    }
}

/// A host, optionally with `:port`: letters, digits, `-`, `.`, `_`, or a bracketed IPv6 literal.
fn is_host_text(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
}

/// The size of a request head as sent: request line and header lines.
fn head_bytes(req: &RequestHeader) -> usize {
    let line = req.method.as_str().len() + req.raw_path().len() + 12;
    req.headers.iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}

#[cfg(test)]
mod tests {
    use super::is_host_text;

    #[test]
    fn host_text() {
        for h in ["a.example", "A.EXAMPLE:8080", "[::1]:8402", "x_y.z", ""] {
            assert!(is_host_text(h), "{h}");
        }
        for h in ["a b", "a,b", "a/b", "a@b", "a\\b"] {
            assert!(!is_host_text(h), "{h}");
        }
    }
}

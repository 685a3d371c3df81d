//! What the gateway needs to know about an incoming request, read once from its head.
//!
//! `X-Forwarded-Proto/Host/For` are believed only from `server.trusted_proxies` (spec §9: proxies
//! rewriting the resource URL); `server.public_url` overrides both.

use std::net::IpAddr;

use pingora::http::RequestHeader;

use crate::routes::normalize_path;
use crate::snapshot::Snapshot;
use crate::x402::{PAYMENT_SIGNATURE, X_PAYMENT};

/// Facts about one request.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub method: String,
    /// Host without port, lowercased.
    pub host: String,
    /// Normalized path for route matching; also the path the origin receives.
    pub path: String,
    /// The path has an encoded `/` or a `\` (raw or encoded): origins disagree on what such a path
    /// names, so it could match a free route here and name a paid resource there. Refused with 400.
    pub ambiguous_path: bool,
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
    pub forwarded: Forwarded,
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
        let host_header = header(req, "host")
            .map(str::to_string)
            .or_else(|| req.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
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
        let accept = header(req, "accept").unwrap_or("");
        let agent = header(req, "user-agent").unwrap_or("");
        let preflight_method = (method == "OPTIONS")
            .then(|| {
                header(req, "access-control-request-method").map(|m| m.trim().to_ascii_uppercase())
            })
            .flatten();
        let path = normalize_path(req.uri.path()).into_owned();
        let ambiguous_path = is_ambiguous(&path);
        Self {
            is_head: method == "HEAD",
            host: match_host,
            ambiguous_path,
            path,
            client_ip,
            resource_url,
            preflight_method,
            browser: accept.contains("text/html") && agent.contains("Mozilla"),
            payment_signature: req
                .headers
                .get(PAYMENT_SIGNATURE)
                .map(|v| v.as_bytes().to_vec()),
            x_payment: req.headers.get(X_PAYMENT).map(|v| v.as_bytes().to_vec()),
            forwarded,
            method,
        }
    }
}

/// Whether a path has a `\\` or an encoded `/` or `\\` (`%2F`, `%5C`, any case); no allocation.
fn is_ambiguous(path: &str) -> bool {
    let b = path.as_bytes();
    b.contains(&b'\\')
        || b.windows(3).any(|w| {
            w[0] == b'%' && w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
                || w[0] == b'%' && w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c')
        })
}

#[cfg(test)]
mod tests {
    use super::is_ambiguous;

    #[test]
    fn ambiguous_paths() {
        for p in ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/a\\b"] {
            assert!(is_ambiguous(p), "{p}");
        }
        for p in ["/a/b", "/a%20b", "/%2", "/a%25b"] {
            assert!(!is_ambiguous(p), "{p}");
        }
    }
}

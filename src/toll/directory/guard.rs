//! The SSRF guard of directory fetches: which URLs may be fetched, a resolver that drops
//! non-public addresses, and the HTTP client (no redirects, no proxy, timeouts) built once.

use std::error::Error as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{DirectoryError, Limits};

/// A host name that resolved only to addresses the gateway must not fetch from.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
struct NonPublic(String);

/// Resolves with the system resolver and keeps only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(NonPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The fetch client: no redirects, no proxy, `timeout` for connect and for the whole exchange,
/// https only and public addresses only unless the limits allow otherwise.
pub(super) fn client(limits: &Limits) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout)
        .pool_max_idle_per_host(1)
        .https_only(!limits.allow_http)
        .user_agent(concat!(
            "x402-gateway/",
            env!("CARGO_PKG_VERSION"),
            " (key directory)"
        ));
    if !limits.allow_private_ips {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build()
}

/// The URL to fetch, if the limits allow it: https (or http when allowed), no userinfo, and an IP
/// literal host must be public (names are checked by the resolver). The fragment is dropped.
pub(super) fn check_url(raw: &str, limits: &Limits) -> Result<reqwest::Url, DirectoryError> {
    let refused = |why: &str| DirectoryError::Refused(why.to_owned());
    let mut url = reqwest::Url::parse(raw).map_err(|_| refused("not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if limits.allow_http => {}
        _ => return Err(refused("not an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("userinfo in the URL"));
    }
    let host = url.host_str().ok_or_else(|| refused("no host"))?;
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>()
        && !limits.allow_private_ips
        && !is_public(ip)
    {
        return Err(refused("non-public address"));
    }
    url.set_fragment(None);
    Ok(url)
}

/// `host[:port]` of the URL, the port only when it is not the scheme's default (`@authority`).
pub(super) fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A transport error: a refused address is `Refused`, anything else `Unreachable`.
pub(super) fn classify(err: reqwest::Error) -> DirectoryError {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(np) = e.downcast_ref::<NonPublic>() {
            return DirectoryError::Refused(np.to_string());
        }
        source = e.source();
    }
    if err.is_timeout() {
        return DirectoryError::Unreachable("timeout".into());
    }
    DirectoryError::Unreachable(err.without_url().to_string())
}

/// Not loopback, private, link-local, unique-local, unspecified, CGNAT, multicast, broadcast,
/// documentation or reserved (IPv4-mapped and NAT64 IPv6 addresses judged by their IPv4 part).
pub(super) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public_v4(Ipv4Addr::from_bits(
                    (u32::from(s[6]) << 16) | u32::from(s[7]),
                ));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64) // 100.64/10 shared (CGNAT)
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24 protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18/15 benchmarking
        || a >= 240) // reserved
}

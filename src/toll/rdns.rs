//! Forward-confirmed reverse DNS (FCrDNS) of crawler addresses: the PTR names of an IP whose A/AAAA
//! records lead back to the same IP, matched against a crawler's allowed domain suffixes
//! (e.g. `.googlebot.com`). Third in the classifier's trust order, after a Web Bot Auth signature
//! and a published IP range.
//!
//! Lookups go to the configured nameservers (UDP, TCP when a reply is truncated) or to those of
//! `/etc/resolv.conf`. Each IP is resolved once per `cache_ttl`: the cache holds the IP's list of
//! forward-confirmed names, whatever the suffixes asked about, and an empty list for failures and
//! timeouts too; concurrent lookups of one IP share one resolution.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer, RetryDnsHandle};
use hickory_resolver::proto::op::{DnsRequestOptions, Message, Query};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};

/// At most this many PTR names of one IP are forward-checked (one A/AAAA query each).
const MAX_PTR_NAMES: usize = 8;
/// At most this many CNAMEs are followed inside one answer.
const MAX_CNAMES: usize = 8;
/// At most this many IPs are cached (least recently used evicted first).
const MAX_CACHED_IPS: u64 = 100_000;
/// Longest accepted `timeout` and `cache_ttl`.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_CACHE_TTL: Duration = Duration::from_secs(366 * 24 * 3600);
/// The system resolver configuration, used when no nameservers are configured.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// How the resolver reaches DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Nameservers to ask (UDP and TCP, each with its own port); empty: those of
    /// `/etc/resolv.conf` on port 53 (`127.0.0.1:53` if it names none, as glibc does).
    pub nameservers: Vec<SocketAddr>,
    /// How long one IP's result (confirmed names, or none) is kept.
    pub cache_ttl: Duration,
    /// Bound on one confirmation as a whole: the PTR query and the forward queries after it.
    pub timeout: Duration,
}

/// A caching FCrDNS resolver; share it (`Arc`) between requests.
pub struct Resolver {
    /// The nameserver pool itself, not hickory's `Resolver`: that one answers every name under
    /// `127.in-addr.arpa` with `localhost.` (RFC 6761) without asking, which loopback tests
    /// need to ask; and it would cache a second time.
    dns: RetryDnsHandle<NameServerPool<TokioRuntimeProvider>>,
    /// IP → its forward-confirmed PTR names (lowercase, no trailing dot); empty: none or failed.
    cache: moka::future::Cache<IpAddr, Arc<[Arc<str>]>>,
    timeout: Duration,
    lookups: AtomicU64,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("timeout", &self.timeout)
            .field("cached", &self.cache.entry_count())
            .field("lookups", &self.lookups())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver for `settings`. Err unless 0 < `timeout` ≤ 60 s and `cache_ttl` ≤ 366 days.
    /// Needs no runtime until first used.
    pub fn new(settings: &DnsSettings) -> Result<Self, String> {
        if settings.timeout.is_zero() || settings.timeout > MAX_TIMEOUT {
            return Err(format!(
                "dns timeout must be over 0 and at most {MAX_TIMEOUT:?}, not {:?}",
                settings.timeout
            ));
        }
        if settings.cache_ttl > MAX_CACHE_TTL {
            return Err(format!(
                "dns cache_ttl must be at most {MAX_CACHE_TTL:?}, not {:?}",
                settings.cache_ttl
            ));
        }
        let nameservers = if settings.nameservers.is_empty() {
            system_nameservers()
        } else {
            settings.nameservers.clone()
        };
        let servers = nameservers.iter().map(|server| {
            let mut udp = ConnectionConfig::udp();
            udp.port = server.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = server.port();
            NameServerConfig::new(server.ip(), true, vec![udp, tcp])
        });
        let mut opts = ResolverOpts::default();
        opts.timeout = settings.timeout;
        let tls = TlsConfig::new().map_err(|e| format!("dns resolver: {e}"))?;
        let pool = NameServerPool::from_config(
            servers,
            Arc::new(PoolContext::new(opts, tls)),
            TokioRuntimeProvider::default(),
        );
        // One retry after a failed attempt (within `timeout`, which bounds the whole confirmation).
        let dns = RetryDnsHandle::new(pool, 1);
        let cache = moka::future::Cache::builder()
            .max_capacity(MAX_CACHED_IPS)
            .time_to_live(settings.cache_ttl)
            .build();
        Ok(Resolver {
            dns,
            cache,
            timeout: settings.timeout,
            lookups: AtomicU64::new(0),
        })
    }

    /// Forward-confirmed reverse DNS: the PTR names of `ip` that end in one of `suffixes` (e.g.
    /// `.googlebot.com`; case-insensitive, on a label boundary, the name itself counting as a
    /// match; a trailing dot is ignored, an empty suffix matches nothing) and whose A/AAAA
    /// records contain `ip` again. Returns the first such name (lowercase, no trailing dot), or
    /// None. An IPv4-mapped IPv6 address is looked up as IPv4.
    pub async fn confirm(&self, ip: IpAddr, suffixes: &[String]) -> Option<Arc<str>> {
        if suffixes.iter().all(|s| bare_suffix(s).is_empty()) {
            return None;
        }
        let ip = ip.to_canonical();
        let names = self
            .cache
            .get_with(ip, async move {
                tokio::time::timeout(self.timeout, self.confirmed_names(ip))
                    .await
                    .unwrap_or_else(|_| {
                        tracing::debug!(%ip, "reverse DNS timed out");
                        Arc::from([])
                    })
            })
            .await;
        names
            .iter()
            .find(|name| suffixes.iter().any(|s| has_suffix(name, s)))
            .cloned()
    }

    /// PTR queries made so far (one per IP and `cache_ttl`), for tests and metrics.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// The PTR names of `ip` whose forward records contain `ip`; empty on any failure.
    async fn confirmed_names(&self, ip: IpAddr) -> Arc<[Arc<str>]> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let mut names: Vec<Name> = Vec::new();
        for data in self.query(Name::from(ip), RecordType::PTR).await {
            if let RData::PTR(ptr) = data {
                let mut name = ptr.0.to_lowercase();
                name.set_fqdn(true);
                if !name.is_root() && !names.contains(&name) && names.len() < MAX_PTR_NAMES {
                    names.push(name);
                }
            }
        }
        let mut confirmed: Vec<Arc<str>> = Vec::new();
        for name in names {
            let forward = match ip {
                IpAddr::V4(_) => RecordType::A,
                IpAddr::V6(_) => RecordType::AAAA,
            };
            let back = self
                .query(name.clone(), forward)
                .await
                .iter()
                .any(|data| match data {
                    RData::A(a) => IpAddr::V4(a.0) == ip,
                    RData::AAAA(aaaa) => IpAddr::V6(aaaa.0) == ip,
                    _ => false,
                });
            if back {
                confirmed.push(Arc::from(name.to_ascii().trim_end_matches('.')));
            }
        }
        Arc::from(confirmed)
    }

    /// The `kind` records of `name` in the answer (through CNAMEs in it); none on any error.
    async fn query(&self, mut name: Name, kind: RecordType) -> Vec<RData> {
        name.set_fqdn(true);
        let query = Query::query(name.clone(), kind);
        match self
            .dns
            .lookup(query, DnsRequestOptions::default())
            .first_answer()
            .await
        {
            Ok(response) => answer_records(&response, name, kind),
            Err(e) => {
                tracing::debug!(%name, ?kind, error = %e, "DNS lookup failed");
                Vec::new()
            }
        }
    }
}

/// The answer records of type `kind` owned by `name` or by a name it is a CNAME of (in the
/// same answer, at most [`MAX_CNAMES`] deep); records owned by other names are ignored.
fn answer_records(message: &Message, name: Name, kind: RecordType) -> Vec<RData> {
    let mut owners = vec![name];
    for _ in 0..MAX_CNAMES {
        let before = owners.len();
        for record in &message.answers {
            if let RData::CNAME(target) = &record.data
                && owners.contains(&record.name)
                && !owners.contains(&target.0)
            {
                owners.push(target.0.clone());
            }
        }
        if owners.len() == before {
            break;
        }
    }
    message
        .answers
        .iter()
        .filter(|record| record.record_type() == kind && owners.contains(&record.name))
        .map(|record| record.data.clone())
        .collect()
}

/// `suffix` without its leading and trailing dots.
fn bare_suffix(suffix: &str) -> &str {
    suffix.trim_start_matches('.').trim_end_matches('.')
}

/// Whether host `name` is `suffix` or ends in `.suffix`, ASCII case-insensitively, trailing dots
/// of either ignored; an empty suffix matches nothing.
fn has_suffix(name: &str, suffix: &str) -> bool {
    let name = name.trim_end_matches('.').as_bytes();
    let suffix = bare_suffix(suffix).as_bytes();
    if suffix.is_empty() || name.len() < suffix.len() {
        return false;
    }
    let (head, tail) = name.split_at(name.len() - suffix.len());
    tail.eq_ignore_ascii_case(suffix) && (head.is_empty() || head.ends_with(b"."))
}

/// The nameservers of `/etc/resolv.conf` (port 53), glibc's `127.0.0.1:53` if there are none.
fn system_nameservers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read {RESOLV_CONF}; using 127.0.0.1:53");
        String::new()
    });
    let servers = parse_resolv_conf(&text);
    if servers.is_empty() {
        vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 53))]
    } else {
        servers
    }
}

/// The `nameserver` lines of a resolv.conf text (port 53). Addresses with a zone (`fe80::1%eth0`)
/// are skipped: a bare link-local address without its interface is unusable.
fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests;

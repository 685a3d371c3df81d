//! Published crawler IP ranges (Google's `googlebot.json`, OpenAI's `gptbot.json`, plain CIDR
//! lists): a tolerant parser, a loader from a file or an http(s) URL, and a set of sorted, merged
//! integer intervals per address family that answers `contains` by binary search. Second in the
//! classifier's trust order, after a Web Bot Auth signature.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

/// Largest list `load` accepts, from a URL or a file.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Bound on one fetch by `load`, connecting to the end of the body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// A set of IPv4 and IPv6 ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRanges {
    /// Inclusive `(first, last)` addresses, sorted, disjoint and not adjacent.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpRanges {
    /// Parses a published list. Accepted shapes: Google's / OpenAI's JSON
    /// `{"creationTime": …, "prefixes": [{"ipv4Prefix": "…"} | {"ipv6Prefix": "…"}]}` (other
    /// fields ignored), a JSON array of CIDR strings, or text with one CIDR or IP per line (`#`
    /// comments, blank lines). A CIDR with host bits set stands for its whole network; an
    /// IPv4-mapped IPv6 prefix (`::ffff:a.b.c.d/104`) for the IPv4 range.
    ///
    /// Err naming the entry if any entry is malformed, and Err if there is no entry at all.
    pub fn parse(text: &str) -> Result<Self, String> {
        let body = text.trim_start_matches('\u{feff}').trim();
        let nets = match body.as_bytes().first() {
            Some(b'{') => parse_object(body)?,
            Some(b'[') => parse_array(body)?,
            _ => parse_lines(body)?,
        };
        if nets.is_empty() {
            return Err("no IP ranges in the document".into());
        }
        Ok(Self::from_nets(&nets))
    }

    /// Whether `ip` is in one of the ranges; an IPv4-mapped IPv6 address is checked as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => find(&self.v6, u128::from(v6)),
        }
    }

    /// Number of ranges after merging overlapping and adjacent ones.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether there is no range at all (only `default()` or `merge(&[])` make one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The union of `lists`.
    pub fn merge(lists: &[&IpRanges]) -> IpRanges {
        IpRanges {
            v4: normalize(lists.iter().flat_map(|l| l.v4.iter().copied()).collect()),
            v6: normalize(lists.iter().flat_map(|l| l.v6.iter().copied()).collect()),
        }
    }

    fn from_nets(nets: &[IpNet]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match canonical(net.trunc()) {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        IpRanges {
            v4: normalize(v4),
            v6: normalize(v6),
        }
    }
}

/// Loads a list from `source`: an `http://` or `https://` URL (GET with `client`, within
/// [`FETCH_TIMEOUT`], 200 only, at most [`MAX_BYTES`], no redirects: build `client` with
/// `redirect::Policy::none()`; a redirect it follows anyway is refused), or else a file path.
pub async fn load(source: &str, client: &reqwest::Client) -> Result<IpRanges, String> {
    let scheme = source
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    let text = match scheme.as_deref() {
        Some("http" | "https") => fetch(source, client).await?,
        Some(other) => return Err(format!("{source}: unsupported scheme {other:?}")),
        None => read_file(source).await?,
    };
    IpRanges::parse(&text).map_err(|e| format!("{source}: {e}"))
}

async fn fetch(source: &str, client: &reqwest::Client) -> Result<String, String> {
    let url = reqwest::Url::parse(source).map_err(|e| format!("{source}: {e}"))?;
    let mut response = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/plain;q=0.9, */*;q=0.1",
        )
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{source}: {e}"))?;
    if response.url() != &url {
        return Err(format!(
            "{source}: redirected to {}; redirects are not followed",
            response.url()
        ));
    }
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let note = if status.is_redirection() {
            " (redirects are not followed)"
        } else {
            ""
        };
        return Err(format!("{source}: HTTP {status}{note}"));
    }
    if let Some(length) = response.content_length()
        && length > MAX_BYTES as u64
    {
        return Err(format!("{source}: {length} bytes, over {MAX_BYTES}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{source}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(format!("{source}: body over {MAX_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|e| format!("{source}: not UTF-8: {e}"))
}

async fn read_file(path: &str) -> Result<String, String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if meta.len() > MAX_BYTES as u64 {
        return Err(format!("{path}: {} bytes, over {MAX_BYTES}", meta.len()));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("{path}: not UTF-8: {e}"))
}

/// `{"prefixes": [{"ipv4Prefix": …} | {"ipv6Prefix": …} | "cidr", …], …}`.
fn parse_object(body: &str) -> Result<Vec<IpNet>, String> {
    let doc: Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let Some(prefixes) = doc.get("prefixes").and_then(Value::as_array) else {
        return Err("JSON object without a \"prefixes\" array".into());
    };
    let mut nets = Vec::with_capacity(prefixes.len());
    for (i, entry) in prefixes.iter().enumerate() {
        if let Value::String(s) = entry {
            nets.push(parse_entry(s, &format!("prefixes[{i}]"))?);
            continue;
        }
        let mut found = false;
        for (key, want_v4) in [("ipv4Prefix", true), ("ipv6Prefix", false)] {
            let Some(value) = entry.get(key) else {
                continue;
            };
            let at = format!("prefixes[{i}].{key}");
            let Some(s) = value.as_str() else {
                return Err(format!("{at}: not a string: {value}"));
            };
            let net = parse_entry(s, &at)?;
            if matches!(net, IpNet::V4(_)) != want_v4 {
                let family = if want_v4 { "IPv4" } else { "IPv6" };
                return Err(format!("{at}: {s:?} is not {family}"));
            }
            nets.push(net);
            found = true;
        }
        if !found {
            return Err(format!(
                "prefixes[{i}]: no \"ipv4Prefix\" or \"ipv6Prefix\" in {entry}"
            ));
        }
    }
    Ok(nets)
}

/// `["cidr", …]`.
fn parse_array(body: &str) -> Result<Vec<IpNet>, String> {
    let doc: Vec<Value> = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    doc.iter()
        .enumerate()
        .map(|(i, entry)| match entry.as_str() {
            Some(s) => parse_entry(s, &format!("[{i}]")),
            None => Err(format!("[{i}]: not a string: {entry}")),
        })
        .collect()
}

/// One CIDR or IP per line; `#` starts a comment.
fn parse_lines(body: &str) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or_default().trim();
        if !entry.is_empty() {
            nets.push(parse_entry(entry, &format!("line {}", n + 1))?);
        }
    }
    Ok(nets)
}

/// A CIDR (`a.b.c.d/n`, `x::/n`) or a bare address (a /32 or /128); `at` says where, for errors.
fn parse_entry(s: &str, at: &str) -> Result<IpNet, String> {
    let t = s.trim();
    let parsed = if t.contains('/') {
        t.parse::<IpNet>().ok()
    } else {
        t.parse::<IpAddr>().ok().map(IpNet::from)
    };
    parsed.ok_or_else(|| format!("{at}: {s:?} is not a CIDR or an IP address"))
}

/// An IPv6 net inside `::ffff:0:0/96` as the IPv4 net it maps.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net
        && n.prefix_len() >= 96
        && let Some(v4) = n.network().to_ipv4_mapped()
        && let Ok(mapped) = Ipv4Net::new(v4, n.prefix_len() - 96)
    {
        return IpNet::V4(mapped);
    }
    net
}

/// Sorts inclusive intervals and merges overlapping and adjacent ones.
fn normalize<T: Copy + Ord + Successor>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        if let Some(last) = out.last_mut()
            && start <= last.1.successor()
        {
            last.1 = last.1.max(end);
        } else {
            out.push((start, end));
        }
    }
    out.shrink_to_fit();
    out
}

/// Whether `x` is in one of the sorted disjoint inclusive `ranges`.
fn find<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= x);
    after
        .checked_sub(1)
        .and_then(|i| ranges.get(i))
        .is_some_and(|&(_, end)| x <= end)
}

/// The next address, saturating at the last one.
trait Successor {
    fn successor(self) -> Self;
}

impl Successor for u32 {
    fn successor(self) -> Self {
        self.saturating_add(1)
    }
}

impl Successor for u128 {
    fn successor(self) -> Self {
        self.saturating_add(1)
    }
}

#[cfg(test)]
mod tests;

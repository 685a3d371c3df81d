//! Published IP ranges fetched from URLs (`verify = { ip_lists = ["https://…/gptbot.json"] }`),
//! kept in memory and fetched again every `ip_list_refresh` (a day by default). A failed fetch
//! keeps the ranges fetched before; a list never fetched yet confirms nobody (the claim falls to
//! reverse DNS, or is spoofed). Lists named by file are read with the config instead.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::ip_ranges::{self, IpRanges};

/// The lists fetched so far, by URL.
#[derive(Default)]
pub struct RemoteLists {
    lists: DashMap<String, Fetched>,
    /// One refresh round at a time.
    refreshing: tokio::sync::Mutex<()>,
}

struct Fetched {
    ranges: Option<Arc<IpRanges>>,
    /// When it was last tried (success or not).
    tried: Instant,
    ok: bool,
}

impl RemoteLists {
    /// Whether `ip` is in the list fetched from one of `urls`.
    pub fn contains(&self, urls: &[String], ip: IpAddr) -> bool {
        urls.iter().any(|u| {
            self.lists
                .get(u)
                .and_then(|f| f.ranges.clone())
                .is_some_and(|r| r.contains(ip))
        })
    }

    /// Whether some URL of `urls` is due for a fetch (see [`RemoteLists::refresh`]).
    pub fn any_due(&self, urls: &[String], every: Duration) -> bool {
        urls.iter().any(|u| self.due(u, every))
    }

    fn due(&self, url: &str, every: Duration) -> bool {
        self.lists.get(url).is_none_or(|f| {
            let wait = if f.ok {
                every
            } else {
                (every / 10).max(Duration::from_secs(1))
            };
            f.tried.elapsed() >= wait
        })
    }

    /// Fetches every URL of `urls` not tried within `every` (a failed one is tried again after
    /// a tenth of it, at least a second later). Nothing if a round is already running.
    pub async fn refresh(&self, urls: &[String], every: Duration, client: &reqwest::Client) {
        let Ok(_round) = self.refreshing.try_lock() else {
            return;
        };
        for url in urls {
            if !self.due(url, every) {
                continue;
            }
            let fetched = ip_ranges::load(url, client).await;
            let mut entry = self.lists.entry(url.clone()).or_insert(Fetched {
                ranges: None,
                tried: Instant::now(),
                ok: false,
            });
            entry.tried = Instant::now();
            match fetched {
                Ok(ranges) => {
                    tracing::info!(url = %url, ranges = ranges.len(), "crawler IP list fetched");
                    entry.ranges = Some(Arc::new(ranges));
                    entry.ok = true;
                }
                Err(error) => {
                    tracing::warn!(%error, kept = entry.ranges.is_some(), "crawler IP list not fetched");
                    entry.ok = false;
                }
            }
        }
    }
}

/// Whether an `ip_lists` entry is a URL (fetched at run time) rather than a file.
pub fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

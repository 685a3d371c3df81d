//! The Web Bot Auth key directory cache (toll-booth.md §1.6–1.7): resolves `(key URL, keyid)` to an
//! Ed25519 verifying key, fetching `…/.well-known/http-message-signatures-directory` (or a
//! `jwks_uri` / CIMD URL) under SSRF limits: https only, public addresses only, no redirects, 200
//! only, a timeout, a body size cap and a key count cap.
//!
//! Caching: one `moka` entry per URL whose lifetime is its own (per-entry `Expiry`): Cache-Control
//! `max-age` clamped to [60 s, `max_ttl`], else `default_ttl`; failures live `negative_ttl` (≤ 5 min).
//! Fetches of one URL are serialized on moka's per-key lock, so concurrent lookups make one fetch.
//! A keyid missing from a cached directory refetches it at most once per `negative_ttl`. The last
//! good key set of each URL is kept apart, so a failed refresh serves it (stale-if-error, up to
//! [`STALE_IF_ERROR`]); only a successful fetch that lacks a key evicts it. Keys are indexed by their
//! RFC 7638 thumbprint, and `nbf`/`exp` are checked against the caller's `now` at every lookup.
//! `require_self_signature` applies to every URL kind (a `jwks_uri` / CIMD document without
//! directory self-signatures yields no key while it is on). Agent URLs come from requests: callers
//! should look up only agents they have a use for, since every new URL is a new fetch.
//! The document parsing and self-signature check are in `directory/document.rs`, the SSRF guard in
//! `directory/guard.rs`.

mod document;
mod guard;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

use document::KeySet;
pub use document::{DIRECTORY_MEDIA_TYPE, DIRECTORY_TAG, DirectorySignature, sign_directory};

#[cfg(test)]
mod tests;

/// How long the last good key set of a URL may stand in for failed refreshes.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(24 * 3600);
/// The draft's cap on negative caching.
const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// The floor under a served `max-age`.
const MIN_TTL: Duration = Duration::from_secs(60);
/// Distinct directory URLs kept.
const CAPACITY: u64 = 10_000;

/// Fetch and cache limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub max_bytes: usize,
    pub max_keys: usize,
    pub negative_ttl: Duration,
    pub default_ttl: Duration,
    pub max_ttl: Duration,
    /// Allow `http://` directory URLs (tests).
    pub allow_http: bool,
    /// Allow loopback / private / link-local addresses (tests).
    pub allow_private_ips: bool,
    /// Use only keys that sign the directory response (`tag="http-message-signatures-directory"`).
    pub require_self_signature: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(3),
            max_bytes: 65_536,
            max_keys: 16,
            negative_ttl: MAX_NEGATIVE_TTL,
            default_ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(24 * 3600),
            allow_http: false,
            allow_private_ips: false,
            require_self_signature: true,
        }
    }
}

/// Why no key came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Network failure, timeout or 5xx: transient.
    #[error("key directory unreachable: {0}")]
    Unreachable(String),
    /// The URL or the response breaks the rules (status, redirect, media type, size, key count,
    /// JSON, address, self-signature).
    #[error("key directory refused: {0}")]
    Refused(String),
    /// The directory is fine but has no usable key of that keyid.
    #[error("key not in the directory")]
    UnknownKey,
}

/// One URL's cached outcome.
struct Entry {
    outcome: Result<Arc<KeySet>, DirectoryError>,
    ttl: Duration,
    fetched_at: Instant,
}

struct EntryTtl;

impl moka::Expiry<String, Arc<Entry>> for EntryTtl {
    fn expire_after_create(&self, _: &String, v: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        v: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// The directory cache. Share it (`Arc`); all methods take `&self`.
pub struct Directories {
    limits: Limits,
    client: Result<reqwest::Client, String>,
    cache: Cache<String, Arc<Entry>>,
    last_good: moka::sync::Cache<String, Arc<KeySet>>,
    fetches: AtomicU64,
}

impl Directories {
    pub fn new(limits: Limits) -> Self {
        let client = guard::client(&limits).map_err(|e| {
            tracing::error!(error = %e, "toll: cannot build the key directory HTTP client");
            e.to_string()
        });
        Directories {
            cache: Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(EntryTtl)
                .build(),
            last_good: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(STALE_IF_ERROR)
                .build(),
            fetches: AtomicU64::new(0),
            client,
            limits,
        }
    }

    /// The verifying key for `(key_url, keyid)`. Lookups are keyed on the URL and the keyid, never
    /// the keyid alone.
    pub async fn key(
        &self,
        key_url: &str,
        keyid: &str,
        now: u64,
    ) -> Result<VerifyingKey, DirectoryError> {
        let url = guard::check_url(key_url, &self.limits)?;
        let entry = match self.cache.get(key_url).await {
            Some(entry) => entry,
            None => self.refresh(key_url, &url, None, now).await,
        };
        let keys = entry.outcome.as_ref().map_err(Clone::clone)?;
        if let Some(key) = keys.get(keyid, now) {
            return Ok(key);
        }
        if entry.fetched_at.elapsed() < self.negative_ttl() {
            return Err(DirectoryError::UnknownKey);
        }
        let fresh = self.refresh(key_url, &url, Some(&entry), now).await;
        let keys = fresh.outcome.as_ref().map_err(Clone::clone)?;
        keys.get(keyid, now).ok_or(DirectoryError::UnknownKey)
    }

    /// How many HTTP fetches were attempted (including ones the SSRF resolver then refused).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn negative_ttl(&self) -> Duration {
        self.limits.negative_ttl.min(MAX_NEGATIVE_TTL)
    }

    /// Fetches `key_url` unless another caller replaced `stale` (or filled an empty slot) meanwhile;
    /// callers of one URL are serialized on moka's per-key lock, so they share one fetch.
    async fn refresh(
        &self,
        key_url: &str,
        url: &reqwest::Url,
        stale: Option<&Arc<Entry>>,
        now: u64,
    ) -> Arc<Entry> {
        let stale = stale.cloned();
        let result = self
            .cache
            .entry_by_ref(key_url)
            .and_compute_with(|current| async move {
                if let Some(current) = current {
                    let current = current.into_value();
                    if stale.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &current)) {
                        return Op::Nop;
                    }
                }
                Op::Put(Arc::new(self.fetch_entry(key_url, url, now).await))
            })
            .await;
        match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) | CompResult::Unchanged(e) => {
                e.into_value()
            }
            CompResult::StillNone(_) | CompResult::Removed(_) => Arc::new(Entry {
                outcome: Err(DirectoryError::Unreachable(
                    "directory cache lost the entry".into(),
                )),
                ttl: self.negative_ttl(),
                fetched_at: Instant::now(),
            }),
        }
    }

    /// One fetch, turned into a cache entry (stale keys on failure, when there are any).
    async fn fetch_entry(&self, key_url: &str, url: &reqwest::Url, now: u64) -> Entry {
        let fetched_at = Instant::now();
        match self.fetch(url, now).await {
            Ok((keys, ttl)) => {
                let keys = Arc::new(keys);
                self.last_good.insert(key_url.to_owned(), keys.clone());
                Entry {
                    outcome: Ok(keys),
                    ttl,
                    fetched_at,
                }
            }
            Err(e) => {
                // debug, not warn: agent URLs come from requests, so a flood of them must not flood the log.
                tracing::debug!(url = key_url, error = %e, "toll: key directory fetch failed");
                let outcome = self.last_good.get(key_url).ok_or(e);
                Entry {
                    outcome,
                    ttl: self.negative_ttl(),
                    fetched_at,
                }
            }
        }
    }

    async fn fetch(
        &self,
        url: &reqwest::Url,
        now: u64,
    ) -> Result<(KeySet, Duration), DirectoryError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| DirectoryError::Unreachable(format!("no HTTP client: {e}")))?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let mut response = client
            .get(url.clone())
            .header(http::header::ACCEPT, DIRECTORY_MEDIA_TYPE)
            .send()
            .await
            .map_err(guard::classify)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(DirectoryError::Unreachable(format!("status {status}")));
        }
        if status.is_redirection() {
            return Err(DirectoryError::Refused(format!(
                "redirect ({status}) not followed"
            )));
        }
        if status != http::StatusCode::OK {
            return Err(DirectoryError::Refused(format!("status {status}")));
        }
        let directory_path = url.path() == super::signature::DIRECTORY_PATH;
        document::check_media_type(response.headers(), directory_path)?;
        let max = self.limits.max_bytes;
        let too_large = || DirectoryError::Refused(format!("body larger than {max} bytes"));
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(guard::classify)? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut keys = document::parse_keys(&body, self.limits.max_keys, directory_path)?;
        if self.limits.require_self_signature && !keys.is_empty() {
            let signed = document::self_signed(
                response.headers(),
                &body,
                &guard::authority(url),
                &keys,
                now,
            );
            keys.retain(|keyid, _| signed.contains(keyid));
            if keys.is_empty() {
                return Err(DirectoryError::Refused(
                    "no key carries a valid directory self-signature".into(),
                ));
            }
        }
        let ttl = document::cache_ttl(response.headers(), &self.limits, MIN_TTL);
        Ok((KeySet::new(keys), ttl))
    }
}

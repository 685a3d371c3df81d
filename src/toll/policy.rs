//! The toll booth's policy, compiled from `[toll_booth]`: which crawlers exist, what each is
//! allowed, charged or refused, and at what price (README "Toll booth").
//!
//! Precedence (documented in the README): block > a valid pass > allow (free, even on a priced
//! route) > charge. Prices: a `[[toll_booth.route_price]]` for the path beats the crawler's own
//! price, which beats the route's x402 price, which beats `default_price`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::identity::{Identity, Outcome};
use super::ip_ranges::IpRanges;
use super::usd::MicroUsd;
use crate::routes::RouteTable;
use crate::x402::challenge::Challenge;

/// What the toll booth does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Free, even on a priced route.
    Allow,
    /// Pays the toll price.
    Charge,
    /// Refused (`CrawlerForbidden`).
    Block,
    /// The toll booth stays out of it: the route's own price applies.
    Route,
}

impl Action {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "allow" => Some(Self::Allow),
            "charge" => Some(Self::Charge),
            "block" => Some(Self::Block),
            "route" => Some(Self::Route),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Charge => "charge",
            Self::Block => "block",
            Self::Route => "route",
        }
    }
}

/// Enforce, or only record what would have been done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Observe,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Observe => "observe",
        }
    }
}

/// One known crawler.
#[derive(Debug)]
pub struct Crawler {
    pub id: Arc<str>,
    /// Lowercased product tokens looked for in `User-Agent`.
    pub tokens: Vec<String>,
    /// Normalized signature-agent URLs (`https://crawler.example`, no trailing `/`).
    pub signature_agents: Vec<String>,
    pub action: Action,
    pub price: Option<MicroUsd>,
    pub mode: Option<Mode>,
    /// Lowercased, each starting with `.`.
    pub rdns_suffixes: Vec<String>,
    pub ip_ranges: Option<IpRanges>,
    /// Lists fetched from these URLs at run time (`toll::ip_lists`).
    pub ip_urls: Vec<String>,
}

impl Crawler {
    /// A user-agent claim of this crawler can be checked (and so can fail: spoofed).
    pub fn verifiable(&self) -> bool {
        !self.rdns_suffixes.is_empty() || self.ip_ranges.is_some() || !self.ip_urls.is_empty()
    }
}

/// A price for some paths.
#[derive(Debug)]
pub struct RoutePrice {
    pub table: RouteTable<()>,
    pub price: MicroUsd,
    /// Crawler ids it is for; empty: every one.
    pub crawlers: Vec<String>,
}

/// A deferred account.
#[derive(Debug)]
pub struct TabAccount {
    pub account: Arc<str>,
    /// Normalized signature-agent URL.
    pub signature_agent: String,
    pub credit_limit: MicroUsd,
    /// Beyond the limit: block instead of offering x402 `exact` only.
    pub block_on_limit: bool,
    /// The billing cycle: cutoffs at `offset_secs` into every `every_secs` (UTC).
    pub every_secs: u64,
    pub offset_secs: u64,
    /// An unpaid batch older than this (after its cutoff) makes the account overdue.
    pub pay_within_secs: u64,
    pub export_dir: Option<std::path::PathBuf>,
    pub webhook: Option<TabWebhook>,
}

/// Where a tab's batches are POSTed.
#[derive(Clone)]
pub struct TabWebhook {
    pub url: String,
    pub secret: Vec<u8>,
    pub retries: u32,
    pub retry_delay_secs: u64,
}

/// Never prints the secret.
impl std::fmt::Debug for TabWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TabWebhook")
            .field("url", &self.url)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// The compiled `[toll_booth]`.
#[derive(Debug)]
pub struct TollBooth {
    pub mode: Mode,
    pub default_bot_action: Action,
    pub unknown_bot_action: Action,
    pub spoofed_action: Action,
    pub human_action: Action,
    pub default_price: MicroUsd,
    pub free_paths: RouteTable<()>,
    pub emit_cloudflare_headers: bool,
    pub block_status: u16,
    pub block_body: String,
    pub crawlers: Vec<Arc<Crawler>>,
    pub route_prices: Vec<RoutePrice>,
    pub tabs: Vec<Arc<TabAccount>>,
    pub signatures: SignatureRules,
    /// How key directories are fetched (read at start; restart to change).
    pub directory: super::directory::Limits,
    /// How reverse DNS is asked (read at start; restart to change).
    pub dns: super::rdns::DnsSettings,
    /// Every distinct toll price, for the offers compiled per route.
    pub prices: Vec<MicroUsd>,
    /// Offers for requests no route matches (the default origin), by price.
    pub default_offers: TollOffers,
    /// How often IP lists named by URL are fetched again.
    pub ip_list_refresh: std::time::Duration,
    /// `[payment]`'s options, for tab invoices (re-priced per batch, USD stablecoins only).
    pub invoice_options: Vec<crate::price::PaymentOption>,
    /// `/robots.txt`, rendered at load, when published.
    pub robots_txt: Option<String>,
    /// `/.well-known/x402` and `/.well-known/x402.json`, rendered at load, when published.
    pub well_known: Option<(String, String)>,
}

/// How Web Bot Auth signatures are checked.
#[derive(Debug, Clone)]
pub struct SignatureRules {
    pub accept_legacy: bool,
    pub max_window_secs: u64,
    pub skew_secs: u64,
    pub reject_test_keys: bool,
    pub allow_http: bool,
    /// Fetch keys for agents no crawler or tab names.
    pub verify_unknown_agents: bool,
}

/// The x402 offers of one route at each toll price (1 USDC per USD).
#[derive(Debug, Default)]
pub struct TollOffers(pub BTreeMap<MicroUsd, Arc<Challenge>>);

/// What the policy decided for one request.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    pub mode: Mode,
    /// The price, when the action is `Charge` (also what observe mode would have charged).
    pub price: Option<MicroUsd>,
    /// `crawler` label of metrics and logs: the crawler id, `human`, `unknown`.
    pub label: Arc<str>,
}

impl TollBooth {
    /// The crawler a user agent names, if any (first match in table order).
    pub fn by_user_agent(&self, agent: &str) -> Option<&Arc<Crawler>> {
        if agent.is_empty() {
            return None;
        }
        let lower = agent.to_ascii_lowercase();
        self.crawlers
            .iter()
            .find(|c| c.tokens.iter().any(|t| lower.contains(t.as_str())))
    }

    /// The crawler a verified signature agent is.
    pub fn by_signature_agent(&self, agent_url: &str) -> Option<&Arc<Crawler>> {
        let url = normalize_agent(agent_url);
        self.crawlers
            .iter()
            .find(|c| c.signature_agents.contains(&url))
    }

    /// The deferred account of a verified signature agent.
    /// Every IP list URL the crawlers name, once each.
    pub fn ip_list_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = self
            .crawlers
            .iter()
            .flat_map(|c| c.ip_urls.iter().cloned())
            .collect();
        urls.sort();
        urls.dedup();
        urls
    }

    pub fn tab(&self, agent_url: &str) -> Option<&Arc<TabAccount>> {
        let url = normalize_agent(agent_url);
        self.tabs.iter().find(|t| t.signature_agent == url)
    }

    /// Whether some crawler or tab names this signature agent.
    pub fn knows_agent(&self, agent_url: &str) -> bool {
        self.by_signature_agent(agent_url).is_some() || self.tab(agent_url).is_some()
    }

    /// A path no crawler pays for or is blocked on.
    pub fn is_free_path(&self, host: &str, path: &str) -> bool {
        self.free_paths.find("GET", host, path).is_some()
    }

    /// Decides a request from who is asking; `route_price` is the route's own x402 price in
    /// micro-USD, when it has one in a USD stablecoin.
    pub fn decide(
        &self,
        who: &Identity,
        host: &str,
        path: &str,
        route_price: Option<MicroUsd>,
    ) -> Decision {
        let crawler = who.crawler.as_ref();
        let (action, label): (Action, Arc<str>) = match (who.outcome, crawler) {
            (Outcome::Spoofed, Some(c)) => (self.spoofed_action, c.id.clone()),
            (Outcome::Verified | Outcome::Unverified, Some(c)) => (c.action, c.id.clone()),
            (Outcome::Verified, None) => (self.default_bot_action, Arc::from("signed_agent")),
            (Outcome::UnknownBot | Outcome::Unverified | Outcome::Spoofed, _) => {
                (self.unknown_bot_action, Arc::from("unknown"))
            }
            (Outcome::Human, _) => (self.human_action, Arc::from("human")),
        };
        let mode = crawler.and_then(|c| c.mode).unwrap_or(self.mode);
        let action = if self.is_free_path(host, path) && action != Action::Route {
            Action::Allow
        } else {
            action
        };
        let price = (action == Action::Charge).then(|| {
            let id = crawler.map(|c| &*c.id);
            self.route_prices
                .iter()
                .find(|rp| {
                    (rp.crawlers.is_empty()
                        || id.is_some_and(|id| rp.crawlers.iter().any(|c| c == id)))
                        && rp.table.find("GET", host, path).is_some()
                })
                .map(|rp| rp.price)
                .or(crawler.and_then(|c| c.price))
                .or(route_price)
                .unwrap_or(self.default_price)
        });
        Decision {
            action,
            mode,
            price,
            label,
        }
    }
}

/// `https://Crawler.Example/` → `https://crawler.example`: how signature agents compare.
pub fn normalize_agent(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

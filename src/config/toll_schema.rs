//! The `[toll_booth]` part of `gateway.toml`: who is crawling, what each crawler pays, and the
//! deferred tabs. Plain serde structs; `config/toll.rs` compiles them (README "Toll booth").

use serde::Deserialize;
use toml::Spanned;

/// `[toll_booth]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TollBoothToml {
    /// How often `ip_lists` named by URL are fetched again. Default `"24h"`.
    #[serde(default)]
    pub ip_list_refresh: Option<Spanned<String>>,
    /// `"enforce"` (default) or `"observe"`: never block or charge, only record what would have
    /// been done and for how much. Each crawler may override it.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// A verified crawler without its own `[[toll_booth.crawler]]` entry: `"charge"` (default),
    /// `"allow"`, `"block"` or `"route"` (the route's own price decides).
    #[serde(default)]
    pub default_bot_action: Option<Spanned<String>>,
    /// An automated-looking user agent that names no known crawler. Default `"route"`.
    #[serde(default)]
    pub unknown_bot_action: Option<Spanned<String>>,
    /// Claims a crawler that can be verified, and fails verification. Default `"block"`.
    #[serde(default)]
    pub spoofed_action: Option<Spanned<String>>,
    /// People (and anything else). Default `"route"`.
    #[serde(default)]
    pub human_action: Option<Spanned<String>>,
    /// The price of a charged crawler without its own. Default `"USD 0.01"`.
    #[serde(default)]
    pub default_price: Option<Spanned<String>>,
    /// Paths no crawler is charged or blocked on (route patterns). Default: robots.txt, sitemaps,
    /// security.txt, `/.well-known/**`, crawlers.json, llms.txt, license.xml.
    #[serde(default)]
    pub free_paths: Option<Vec<Spanned<String>>>,
    /// Send `crawler-price`, `crawler-charged` and `crawler-error`. Default true.
    #[serde(default = "yes")]
    pub emit_cloudflare_headers: bool,
    /// The answer to a blocked crawler. Default `{ status = 403 }`.
    #[serde(default)]
    pub block: Option<Spanned<BlockToml>>,
    /// Include the built-in table of well-known crawlers (search engines allowed, AI crawlers
    /// charged). Default true; an entry with the same `id` replaces a built-in one.
    #[serde(default = "yes")]
    pub builtin_crawlers: bool,
    #[serde(default)]
    pub web_bot_auth: WebBotAuthToml,
    #[serde(default)]
    pub dns: DnsToml,
    #[serde(default)]
    pub crawler: Vec<Spanned<CrawlerToml>>,
    #[serde(default)]
    pub route_price: Vec<Spanned<RoutePriceToml>>,
    #[serde(default)]
    pub tab: Vec<Spanned<TabToml>>,
    #[serde(default)]
    pub publish: PublishToml,
}

fn yes() -> bool {
    true
}

/// `block = { status, body }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockToml {
    /// 403 (default) or 402.
    #[serde(default)]
    pub status: Option<u16>,
    /// Plain text, e.g. `"Licensing: ads@example.com"`.
    #[serde(default)]
    pub body: Option<String>,
}

/// `[toll_booth.web_bot_auth]`: Web Bot Auth (RFC 9421 message signatures).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebBotAuthToml {
    /// Accept the legacy `Signature-Agent: "https://…"` string form. Default true.
    #[serde(default)]
    pub accept_legacy_signature_agent: Option<bool>,
    /// Longest `expires - created` accepted. Default `"5m"`.
    #[serde(default)]
    pub max_signature_window: Option<Spanned<String>>,
    /// Clock difference tolerated on `created` and `expires`. Default `"10s"`.
    #[serde(default)]
    pub clock_skew: Option<Spanned<String>>,
    /// Fetch the keys of signature agents no crawler or tab names (their signatures then make a
    /// verified, unnamed crawler). Default false: such signatures are ignored, so a request cannot
    /// make the gateway fetch from any URL it likes.
    #[serde(default)]
    pub verify_unknown_agents: bool,
    /// Refuse RFC 9421's published test key. Default true.
    #[serde(default)]
    pub reject_test_keys: Option<bool>,
    #[serde(default)]
    pub directory: DirectoryToml,
}

/// `directory = { … }`: how signature-agent key directories are fetched. Restart to change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryToml {
    /// Default `"3s"`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Default 65536.
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// Default 16.
    #[serde(default)]
    pub max_keys: Option<usize>,
    /// How long a failed fetch is remembered. Default `"5m"` (the most the draft allows).
    #[serde(default)]
    pub negative_ttl: Option<Spanned<String>>,
    /// How long keys are kept when the directory sends no `Cache-Control`. Default `"1h"`.
    #[serde(default)]
    pub default_ttl: Option<Spanned<String>>,
    /// Allow `http://` directories (tests). Default false.
    #[serde(default)]
    pub allow_http: bool,
    /// Allow directories on loopback and private addresses (tests). Default false.
    #[serde(default)]
    pub allow_private_ips: bool,
    /// Use only keys the directory signs for itself (Cloudflare's rule). Default true.
    #[serde(default)]
    pub require_self_signature: Option<bool>,
}

/// `[toll_booth.dns]`: forward-confirmed reverse DNS. Restart to change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsToml {
    /// `"127.0.0.1:5353"` style addresses; empty (default) = the system's resolver.
    #[serde(default)]
    pub nameservers: Vec<Spanned<String>>,
    /// Default `"1h"`.
    #[serde(default)]
    pub cache_ttl: Option<Spanned<String>>,
    /// Default `"2s"`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

/// `[[toll_booth.crawler]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrawlerToml {
    pub id: Spanned<String>,
    /// Product tokens found in `User-Agent` (case-insensitive), e.g. `["GPTBot"]`.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Signature agents (`https://crawler.example`) whose verified signatures are this crawler.
    #[serde(default)]
    pub signature_agents: Vec<Spanned<String>>,
    /// `"allow"`, `"charge"`, `"block"` or `"route"`. Default `[toll_booth].default_bot_action`.
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    /// Its own price, e.g. `"USD 0.02"`.
    #[serde(default)]
    pub price: Option<Spanned<String>>,
    /// `"observe"` or `"enforce"`, overriding `[toll_booth].mode`.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// How a user-agent claim is confirmed; a claim that fails is spoofed.
    #[serde(default)]
    pub verify: Option<VerifyToml>,
}

/// `verify = { rdns_suffixes, ip_lists }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyToml {
    /// Reverse DNS names must end in one of these (and resolve back to the address).
    #[serde(default)]
    pub rdns_suffixes: Vec<String>,
    /// Published IP ranges (Google's JSON shape or one CIDR per line): file paths, read again on
    /// every reload, or http(s) URLs, fetched at start and every `ip_list_refresh`.
    #[serde(default)]
    pub ip_lists: Vec<Spanned<String>>,
}

/// `[[toll_booth.route_price]]`: a price for crawlers on some paths, beating theirs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePriceToml {
    pub path: Spanned<String>,
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    pub price: Spanned<String>,
    /// Only for these crawler ids. Default: every charged crawler.
    #[serde(default)]
    pub crawlers: Vec<String>,
}

/// `[[toll_booth.tab]]`: a deferred account for a crawler known by its verified signature.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabToml {
    pub account: Spanned<String>,
    /// The signature agent (`https://crawler.example`) the account belongs to.
    pub signature_agent: Spanned<String>,
    /// The most the open tab may owe, e.g. `"USD 100.00"`.
    pub credit_limit: Spanned<String>,
    /// Beyond the limit: `"prepay"` (default: offer x402 `exact` only) or `"block"`.
    #[serde(default)]
    pub on_limit: Option<Spanned<String>>,
    /// When open lines close into a batch. Default `{ every = "1d", cutoff = "00:00" }` (UTC).
    #[serde(default)]
    pub cycle: Option<Spanned<CycleToml>>,
    /// A batch unpaid this long after its cutoff makes the account overdue (x402 `exact` only,
    /// or blocked, as over the limit). Default `"7d"`.
    #[serde(default)]
    pub pay_within: Option<Spanned<String>>,
    /// Where each batch's invoice is written as `<batch>.jsonl` and `<batch>.csv`.
    #[serde(default)]
    pub export_dir: Option<String>,
    /// Each batch is POSTed here, signed with HMAC-SHA256.
    #[serde(default)]
    pub webhook: Option<Spanned<WebhookToml>>,
}

/// `cycle = { every, cutoff }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleToml {
    /// `"1d"` (default), `"12h"`, `"1h"`, …
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    /// The cutoff's time of day, UTC, `"HH:MM"`. Default `"00:00"`.
    #[serde(default)]
    pub cutoff: Option<Spanned<String>>,
}

/// `webhook = { url, secret, retries, retry_delay }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookToml {
    pub url: Spanned<String>,
    /// The HMAC key. Default `{ env = "TAB_WEBHOOK_SECRET" }`.
    #[serde(default)]
    pub secret: Option<Spanned<super::schema::EnvValue>>,
    /// Retries after the first attempt. Default 8.
    #[serde(default)]
    pub retries: Option<u32>,
    /// The first retry's delay, doubled each time. Default `"30s"`.
    #[serde(default)]
    pub retry_delay: Option<Spanned<String>>,
}

/// `[toll_booth.publish]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishToml {
    /// Serve `/robots.txt` generated from the policy (unless a route covers it). Default true.
    #[serde(default = "yes")]
    pub robots_txt: bool,
    /// The `Content-Signal` line of robots.txt. Default `"search=yes, ai-input=yes, ai-train=no"`.
    #[serde(default)]
    pub content_signal: Option<String>,
    /// Serve `/.well-known/x402` (and `.json`) listing every priced route. Default true.
    #[serde(default = "yes")]
    pub well_known_x402: bool,
}

impl Default for PublishToml {
    fn default() -> Self {
        Self {
            robots_txt: true,
            content_signal: None,
            well_known_x402: true,
        }
    }
}

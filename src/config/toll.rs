//! `[toll_booth]`, compiled into the snapshot's [`TollBooth`]: actions, prices in micro-USD,
//! crawler tables (built-in and the operator's), path tables, tab accounts, the published
//! robots.txt and `/.well-known/x402`, and the x402 offers made at each toll price.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::access::duration_secs;
use super::compile::CompileContext;
use super::error::Findings;
use super::schema::{GatewayToml, PriceToml, RouteToml};
use super::toll_schema::{
    CrawlerToml, CycleToml, DirectoryToml, DnsToml, TollBoothToml, WebhookToml,
};
use crate::price::PaymentOption;
use crate::routes::{RouteSpec, RouteTable, RouteTableBuilder};
use crate::toll::builtin::CRAWLERS;
use crate::toll::directory::Limits;
use crate::toll::ip_ranges::IpRanges;
use crate::toll::policy::{
    Action, Crawler, Mode, RoutePrice, SignatureRules, TabAccount, TabWebhook, TollBooth,
    TollOffers, normalize_agent,
};
use crate::toll::publish;
use crate::toll::rdns::DnsSettings;
use crate::toll::usd::MicroUsd;
use crate::x402::challenge::{Challenge, Extensions};

/// Paths no crawler pays for by default (Cloudflare's always-free list, and ours).
const FREE_PATHS: [&str; 8] = [
    "/robots.txt",
    "/sitemap.xml",
    "/sitemap_index.xml",
    "/security.txt",
    "/.well-known/**",
    "/crawlers.json",
    "/llms.txt",
    "/license.xml",
];

/// Compiles `[toll_booth]`; `None` when absent or in error (reported to `f`).
pub(super) fn compile(
    toml: &GatewayToml,
    base: &Path,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Option<TollBooth> {
    let t = toml.toll_booth.as_ref()?;
    let mode = mode(t.mode.as_ref(), f).unwrap_or(Mode::Enforce);
    let default_bot_action = action(t.default_bot_action.as_ref(), Action::Charge, f);
    let unknown_bot_action = action(t.unknown_bot_action.as_ref(), Action::Route, f);
    let spoofed_action = action(t.spoofed_action.as_ref(), Action::Block, f);
    let human_action = action(t.human_action.as_ref(), Action::Route, f);
    let default_price = t
        .default_price
        .as_ref()
        .and_then(|p| price(p, f))
        .unwrap_or(MicroUsd(10_000));
    let free_paths = free_paths(t, f);
    let (block_status, block_body) = match &t.block {
        Some(b) => {
            let status = b.get_ref().status.unwrap_or(403);
            if status != 403 && status != 402 {
                f.error(b.span(), "`block.status` is 403 or 402");
            }
            (status, b.get_ref().body.clone().unwrap_or_default())
        }
        None => (403, String::new()),
    };
    let crawlers = crawlers(t, default_bot_action, base, f);
    let route_prices = t
        .route_price
        .iter()
        .filter_map(|rp| {
            let r = rp.get_ref();
            let table = one_path(
                r.host.as_ref().map_or("*", |h| h.get_ref().as_str()),
                &r.path,
                false,
                f,
            )?;
            for id in &r.crawlers {
                if !crawlers.iter().any(|c| &*c.id == id.as_str()) {
                    f.error(rp.span(), format!("no crawler has the id `{id}`"));
                }
            }
            Some(RoutePrice {
                table,
                price: price(&r.price, f)?,
                crawlers: r.crawlers.clone(),
            })
        })
        .collect::<Vec<_>>();
    let tabs = t
        .tab
        .iter()
        .filter_map(|tab| {
            let tb = tab.get_ref();
            let block_on_limit = match tb
                .on_limit
                .as_ref()
                .map(|s| (s.get_ref().as_str(), s.span()))
            {
                None | Some(("prepay", _)) => false,
                Some(("block", _)) => true,
                Some((other, span)) => {
                    f.error(
                        span,
                        format!("unknown `on_limit` `{other}`: expected \"prepay\" or \"block\""),
                    );
                    false
                }
            };
            let agent = agent_url(&tb.signature_agent, f)?;
            let (every_secs, offset_secs) = cycle(tb.cycle.as_ref(), f);
            Some(Arc::new(TabAccount {
                account: Arc::from(tb.account.get_ref().as_str()),
                signature_agent: agent,
                credit_limit: price(&tb.credit_limit, f)?,
                block_on_limit,
                every_secs,
                offset_secs,
                pay_within_secs: tb
                    .pay_within
                    .as_ref()
                    .and_then(|d| duration_secs(d, f))
                    .unwrap_or(7 * 86_400),
                export_dir: tb.export_dir.as_ref().map(|d| base.join(d)),
                webhook: tb.webhook.as_ref().and_then(|w| webhook(w, ctx, f)),
            }))
        })
        .collect::<Vec<_>>();
    if !tabs.is_empty() && !toml.ledger.enabled {
        let span = t.tab.first().map_or(0..0, Spanned::span);
        f.error(
            span,
            "tabs are kept in the ledger: `[ledger] enabled` must not be false",
        );
    }
    let w = &t.web_bot_auth;
    let signatures = SignatureRules {
        accept_legacy: w.accept_legacy_signature_agent.unwrap_or(true),
        max_window_secs: w
            .max_signature_window
            .as_ref()
            .and_then(|d| duration_secs(d, f))
            .unwrap_or(300),
        skew_secs: w
            .clock_skew
            .as_ref()
            .and_then(|d| duration_secs(d, f))
            .unwrap_or(10),
        reject_test_keys: w.reject_test_keys.unwrap_or(true),
        allow_http: w.directory.allow_http,
        verify_unknown_agents: w.verify_unknown_agents,
    };
    let directory = directory_limits(&w.directory, f);
    let dns = dns_settings(&t.dns, f);
    let mut prices: BTreeSet<MicroUsd> = BTreeSet::from([default_price]);
    prices.extend(crawlers.iter().filter_map(|c| c.price));
    prices.extend(route_prices.iter().map(|rp| rp.price));
    let mut booth = TollBooth {
        mode,
        default_bot_action,
        unknown_bot_action,
        spoofed_action,
        human_action,
        default_price,
        free_paths,
        emit_cloudflare_headers: t.emit_cloudflare_headers,
        block_status,
        block_body,
        crawlers,
        route_prices,
        tabs,
        signatures,
        directory,
        dns,
        prices: prices.into_iter().collect(),
        default_offers: TollOffers::default(),
        invoice_options: Vec::new(),
        ip_list_refresh: Duration::from_secs(
            t.ip_list_refresh
                .as_ref()
                .and_then(|d| duration_secs(d, f))
                .unwrap_or(86_400),
        ),
        robots_txt: None,
        well_known: None,
    };
    if t.publish.robots_txt {
        booth.robots_txt = Some(publish::robots_txt(
            &booth,
            t.publish.content_signal.as_deref(),
        ));
    }
    if t.publish.well_known_x402 {
        booth.well_known = Some(publish::well_known(
            toml.routes.iter().filter_map(|r| listed(r.get_ref())),
        ));
    }
    Some(booth)
}

/// The offers of one route at every toll price: its own options (or `[payment]`'s for requests
/// no route matches), re-priced at 1 USDC per USD. Options in a token that is not a USD
/// stablecoin are left out.
pub(super) fn offers(
    booth: &TollBooth,
    options: &[PaymentOption],
    description: &str,
    mime_type: &str,
    resource: Option<String>,
) -> TollOffers {
    let mut out = TollOffers::default();
    for &p in &booth.prices {
        let priced = p.priced(options);
        if priced.is_empty() {
            continue;
        }
        let challenge = Challenge::with_extensions(
            &priced,
            description,
            mime_type,
            resource.clone(),
            Extensions::default(),
        );
        out.0.insert(p, Arc::new(challenge));
    }
    out
}

/// The environment variable a webhook's secret is read from when the file names none.
pub const DEFAULT_WEBHOOK_SECRET_ENV: &str = "TAB_WEBHOOK_SECRET";

/// `cycle = { every, cutoff }` → (every, offset) in seconds; default daily at 00:00 UTC.
fn cycle(c: Option<&Spanned<CycleToml>>, f: &mut Findings<'_>) -> (u64, u64) {
    let Some(c) = c else { return (86_400, 0) };
    let every = c
        .get_ref()
        .every
        .as_ref()
        .and_then(|d| duration_secs(d, f))
        .unwrap_or(86_400);
    let offset = match &c.get_ref().cutoff {
        None => 0,
        Some(t) => {
            let parsed = t
                .get_ref()
                .trim_end_matches('Z')
                .split_once(':')
                .and_then(|(h, m)| {
                    let (h, m) = (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?);
                    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
                });
            parsed.unwrap_or_else(|| {
                f.error(t.span(), "a cutoff is a UTC time of day, \"HH:MM\"");
                0
            })
        }
    };
    if every < crate::billing::cycle::MIN_EVERY_SECS
        && let Some(span) = c.get_ref().every.as_ref().map(Spanned::span)
    {
        f.error(span, "a tab's cycle is at least \"1m\"");
    }
    if offset >= every {
        f.error(
            c.span(),
            "the cutoff must fall within one cycle (`cutoff` < `every`)",
        );
    }
    (every, offset % every.max(1))
}

/// `webhook = { … }`: its secret from the environment, never from the file.
fn webhook(
    w: &Spanned<WebhookToml>,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Option<TabWebhook> {
    let hook = w.get_ref();
    let url = hook.url.get_ref();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        f.error(
            hook.url.span(),
            "a webhook URL starts with https:// (or http://)",
        );
    }
    let (var, span) = hook
        .secret
        .as_ref()
        .map_or((DEFAULT_WEBHOOK_SECRET_ENV.to_string(), w.span()), |s| {
            (s.get_ref().env.clone(), s.span())
        });
    let secret = ctx.secret(&var, "the tab webhook's HMAC secret", span, f)?;
    Some(TabWebhook {
        url: url.clone(),
        secret: secret.into_bytes(),
        retries: hook.retries.unwrap_or(8),
        retry_delay_secs: hook
            .retry_delay
            .as_ref()
            .and_then(|d| duration_secs(d, f))
            .unwrap_or(30),
    })
}

/// `directory = { … }`, with the draft's limits as defaults.
fn directory_limits(d: &DirectoryToml, f: &mut Findings<'_>) -> Limits {
    let secs = |d: &Option<Spanned<String>>, default: u64, f: &mut Findings<'_>| {
        Duration::from_secs(
            d.as_ref()
                .and_then(|d| duration_secs(d, f))
                .unwrap_or(default),
        )
    };
    let negative_ttl = secs(&d.negative_ttl, 300, f);
    if negative_ttl > Duration::from_secs(300)
        && let Some(span) = d.negative_ttl.as_ref().map(Spanned::span)
    {
        f.error(
            span,
            "`negative_ttl` is at most \"5m\" (a failed fetch is retried within five minutes)",
        );
    }
    Limits {
        timeout: secs(&d.timeout, 3, f),
        max_bytes: d.max_bytes.unwrap_or(65_536).max(256),
        max_keys: d.max_keys.unwrap_or(16).max(1),
        negative_ttl,
        default_ttl: secs(&d.default_ttl, 3600, f),
        max_ttl: Duration::from_secs(24 * 3600),
        allow_http: d.allow_http,
        allow_private_ips: d.allow_private_ips,
        require_self_signature: d.require_self_signature.unwrap_or(true),
    }
}

/// `[toll_booth.dns]`.
fn dns_settings(d: &DnsToml, f: &mut Findings<'_>) -> DnsSettings {
    let nameservers = d
        .nameservers
        .iter()
        .filter_map(|n| {
            n.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| {
                    f.error(
                        n.span(),
                        "a nameserver is an address with its port, e.g. \"127.0.0.1:53\"",
                    )
                })
                .ok()
        })
        .collect();
    let secs = |d: &Option<Spanned<String>>, default: u64, f: &mut Findings<'_>| {
        Duration::from_secs(
            d.as_ref()
                .and_then(|d| duration_secs(d, f))
                .unwrap_or(default),
        )
    };
    DnsSettings {
        nameservers,
        cache_ttl: secs(&d.cache_ttl, 3600, f),
        timeout: secs(&d.timeout, 2, f),
    }
}

fn mode(m: Option<&Spanned<String>>, f: &mut Findings<'_>) -> Option<Mode> {
    let m = m?;
    match m.get_ref().as_str() {
        "enforce" => Some(Mode::Enforce),
        "observe" => Some(Mode::Observe),
        other => {
            f.error(
                m.span(),
                format!("unknown mode `{other}`: expected \"enforce\" or \"observe\""),
            );
            None
        }
    }
}

fn action(a: Option<&Spanned<String>>, default: Action, f: &mut Findings<'_>) -> Action {
    let Some(a) = a else { return default };
    Action::parse(a.get_ref()).unwrap_or_else(|| {
        f.error(
            a.span(),
            format!(
                "unknown action `{}`: expected \"allow\", \"charge\", \"block\" or \"route\"",
                a.get_ref()
            ),
        );
        default
    })
}

fn price(p: &Spanned<String>, f: &mut Findings<'_>) -> Option<MicroUsd> {
    MicroUsd::parse(p.get_ref(), true)
        .map_err(|e| f.error(p.span(), e))
        .ok()
}

fn agent_url(url: &Spanned<String>, f: &mut Findings<'_>) -> Option<String> {
    let u = url.get_ref();
    if u.starts_with("https://") || u.starts_with("http://") {
        Some(normalize_agent(u))
    } else {
        f.error(
            url.span(),
            format!("`{u}` is not a signature agent URL (https://…)"),
        );
        None
    }
}

fn one_path(
    host: &str,
    path: &Spanned<String>,
    case_sensitive: bool,
    f: &mut Findings<'_>,
) -> Option<RouteTable<()>> {
    let mut table = RouteTableBuilder::new();
    let spec = RouteSpec {
        host,
        methods: &[],
        path: path.get_ref(),
        case_sensitive,
    };
    match table.push(spec, ()) {
        Ok(_) => Some(table.build()),
        Err(e) => {
            f.error(path.span(), e.to_string());
            None
        }
    }
}

/// Free paths compare case-sensitively: only the exact free resource is free.
fn free_paths(t: &TollBoothToml, f: &mut Findings<'_>) -> RouteTable<()> {
    let written: Vec<Spanned<String>> = match &t.free_paths {
        Some(list) => list.clone(),
        None => FREE_PATHS
            .iter()
            .map(|p| Spanned::new(0..0, (*p).to_string()))
            .collect(),
    };
    let mut table = RouteTableBuilder::new();
    for p in &written {
        let spec = RouteSpec {
            host: "*",
            methods: &[],
            path: p.get_ref(),
            case_sensitive: true,
        };
        if let Err(e) = table.push(spec, ()) {
            f.error(p.span(), e.to_string());
        }
    }
    table.build()
}

/// The built-in crawlers (unless turned off), each replaced by an operator entry of the same id,
/// then the operator's others.
fn crawlers(
    t: &TollBoothToml,
    default_action: Action,
    base: &Path,
    f: &mut Findings<'_>,
) -> Vec<Arc<Crawler>> {
    let mut out: Vec<Arc<Crawler>> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in &t.crawler {
        if !seen.insert(c.get_ref().id.get_ref().clone()) {
            f.error(c.get_ref().id.span(), "two crawlers have this id");
        }
    }
    let own = |id: &str| t.crawler.iter().find(|c| c.get_ref().id.get_ref() == id);
    if t.builtin_crawlers {
        for b in CRAWLERS {
            if own(b.id).is_some() {
                continue;
            }
            out.push(Arc::new(Crawler {
                id: Arc::from(b.id),
                tokens: b.tokens.iter().map(|t| t.to_ascii_lowercase()).collect(),
                signature_agents: Vec::new(),
                action: b.action.and_then(Action::parse).unwrap_or(default_action),
                price: None,
                mode: None,
                rdns_suffixes: b.rdns_suffixes.iter().map(|s| (*s).to_string()).collect(),
                ip_ranges: None,
                ip_urls: Vec::new(),
            }));
        }
    }
    // The operator's own entries first: they are the more specific.
    let mut own_list: Vec<Arc<Crawler>> = t
        .crawler
        .iter()
        .filter_map(|c| crawler(c.get_ref(), default_action, base, f).map(Arc::new))
        .collect();
    own_list.append(&mut out);
    own_list
}

fn crawler(
    c: &CrawlerToml,
    default_action: Action,
    base: &Path,
    f: &mut Findings<'_>,
) -> Option<Crawler> {
    let verify = c.verify.as_ref();
    let mut lists = Vec::new();
    let mut ip_urls = Vec::new();
    for source in verify.map_or(&[][..], |v| &v.ip_lists[..]) {
        if crate::toll::ip_lists::is_url(source.get_ref()) {
            match reqwest::Url::parse(source.get_ref()) {
                Ok(_) => ip_urls.push(source.get_ref().clone()),
                Err(e) => f.error(source.span(), format!("not a URL: {e}")),
            }
            continue;
        }
        let path = base.join(source.get_ref());
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| IpRanges::parse(&text))
        {
            Ok(ranges) => lists.push(ranges),
            Err(e) => f.error(
                source.span(),
                format!("cannot read the IP list {}: {e}", path.display()),
            ),
        }
    }
    let ip_ranges = (!lists.is_empty()).then(|| IpRanges::merge(&lists.iter().collect::<Vec<_>>()));
    let signature_agents = c
        .signature_agents
        .iter()
        .filter_map(|a| agent_url(a, f))
        .collect::<Vec<_>>();
    if c.user_agents.is_empty() && signature_agents.is_empty() {
        f.error(
            c.id.span(),
            "this crawler has neither `user_agents` nor `signature_agents`: nothing can match it",
        );
    }
    Some(Crawler {
        ip_urls,
        id: Arc::from(c.id.get_ref().as_str()),
        tokens: c
            .user_agents
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect(),
        signature_agents,
        action: action(c.action.as_ref(), default_action, f),
        price: c.price.as_ref().and_then(|p| price(p, f)),
        mode: mode(c.mode.as_ref(), f),
        rdns_suffixes: verify
            .map(|v| {
                v.rdns_suffixes
                    .iter()
                    .map(|s| {
                        let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
                        if s.starts_with('.') {
                            s
                        } else {
                            format!(".{s}")
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ip_ranges,
    })
}

/// A priced route as `/.well-known/x402` lists it; free routes are not listed.
fn listed(r: &RouteToml) -> Option<publish::Listed<'_>> {
    let price = match r.price.get_ref() {
        PriceToml::Text(t) if t.trim().eq_ignore_ascii_case("free") => return None,
        PriceToml::Text(t) => t.clone(),
        PriceToml::Atomic(n) => n.to_string(),
    };
    Some(publish::Listed {
        methods: r
            .methods
            .as_ref()
            .map_or_else(|| vec!["*".to_string()], |m| m.get_ref().clone()),
        host: r.host.as_ref().map_or("*", |h| h.get_ref().as_str()),
        path: r.path.get_ref(),
        price,
        description: r.description.as_deref().unwrap_or(""),
        mime_type: r.mime_type.as_deref().unwrap_or(""),
    })
}

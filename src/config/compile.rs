//! `gateway.toml` text → [`Snapshot`]: the one place where strings become types.
//!
//! Every problem is collected with its position (nothing is skipped or validated twice); the result
//! is either a complete snapshot or the list of errors, so a reload is all or nothing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Finding, Findings, Severity};
use super::origins::compile_origin;
use super::payment::PaymentDefaults;
use super::route_checks;
use super::schema::{GatewayToml, PriceToml, RouteToml, ServerToml, TlsListenerToml};
use crate::clock::UnixSecs;
use crate::price::{PriceText, parse_price_text};
use crate::routes::{RouteSpec, RouteTableBuilder};
use crate::snapshot::{
    ConnectionLimits, LedgerSettings, Origin, Pricing, RequestRules, Route, Snapshot, TlsListener,
};
use crate::x402::challenge::Challenge;

/// What a load needs besides the text.
pub struct CompileContext<'a> {
    pub version: u64,
    pub now: UnixSecs,
    /// The snapshot being replaced: its facilitator client is kept when unchanged.
    pub previous: Option<&'a Snapshot>,
    /// Environment lookup for secrets (`std::env::var` in production).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl CompileContext<'_> {
    /// The secret in environment variable `var`, or an error at `span` saying that `var` (the
    /// `what` of the config) is not set. The value is never part of a message.
    pub(super) fn secret(
        &self,
        var: &str,
        what: &str,
        span: std::ops::Range<usize>,
        f: &mut Findings<'_>,
    ) -> Option<String> {
        let value = (self.env)(var);
        if value.is_none() {
            f.error(
                span,
                format!("environment variable `{var}` ({what}) is not set"),
            );
        }
        value
    }
}

/// A loaded config and the warnings found on the way.
pub struct Compiled {
    pub snapshot: Snapshot,
    pub warnings: Vec<Finding>,
}

/// Parses and compiles a config file's text.
pub fn compile(path: &Path, text: &str, ctx: &CompileContext<'_>) -> Result<Compiled, ConfigError> {
    let mut f = Findings::new(path, text);
    let toml: GatewayToml = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            f.error(e.span().unwrap_or(0..1), e.message().to_string());
            return Err(ConfigError { findings: f.list });
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let listen = listen_addresses(&toml.server, &mut f);
    let tls_listen = toml
        .server
        .tls
        .iter()
        .filter_map(|t| tls_listener(t.get_ref(), base, &mut f))
        .collect();
    let admin_listen = socket_or_empty(&toml.admin.listen, &mut f);
    // Only its digest is kept: the token itself is never in the snapshot or a log.
    let admin_token = toml.admin.token.as_ref().and_then(|t| {
        let token = ctx.secret(&t.get_ref().env, "the admin token", t.span(), &mut f)?;
        Some(crate::admin::tabs::token_digest(&token))
    });
    let public_url = toml
        .server
        .public_url
        .as_ref()
        .and_then(|u| http_url(u, &mut f));
    let trusted_proxies = toml
        .server
        .trusted_proxies
        .iter()
        .filter_map(|p| cidr(p, &mut f))
        .collect();
    let facilitator = super::facilitator::compile(&toml.facilitator, ctx, &mut f);
    let chains = super::chains::compile(&toml.chains, ctx, &mut f);
    let payment = PaymentDefaults::compile(&toml.payment, &toml.assets, &mut f);
    let origins: BTreeMap<String, Arc<Origin>> = toml
        .origins
        .iter()
        .filter_map(|(name, o)| {
            Some((
                name.clone(),
                Arc::new(compile_origin(name, o, base, &mut f)?),
            ))
        })
        .collect();
    let default_origin = match &toml.server.default_origin {
        Some(name) => lookup_origin(name, &origins, &toml, &mut f),
        None if origins.len() == 1 => origins.values().next().cloned(),
        None => None,
    };

    let mut access = super::access::compile(&toml.access, base, ctx, &mut f);
    let mut toll = super::toll::compile(&toml, base, ctx, &mut f);
    let toll_options = toll
        .as_ref()
        .map(|_| payment.toll_options(&mut f))
        .unwrap_or_default();
    let mut table = RouteTableBuilder::new();
    let mut spans = Vec::new();
    for route in &toml.routes {
        let Some(compiled) = compile_route(
            route.get_ref(),
            &origins,
            &default_origin,
            &toml,
            &mut access,
            Prices {
                payment: &payment,
                booth: toll.as_ref(),
                toll_options: &toll_options,
            },
            &mut f,
        ) else {
            continue;
        };
        let r = route.get_ref();
        let methods = methods(r);
        let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
        let spec = RouteSpec {
            host: r.host.as_ref().map_or("*", |h| h.get_ref().as_str()),
            methods: &methods,
            path: r.path.get_ref(),
            case_sensitive: r.case_sensitive.unwrap_or(toml.server.case_sensitive),
        };
        match table.push(spec, Arc::new(compiled)) {
            Ok(_) => spans.push((route.span(), route_name(r))),
            Err(e) => f.error(r.path.span(), e.to_string()),
        }
    }
    let routes = table.build();
    for (shadowed, by) in routes.unreachable() {
        if let (Some((span, name)), Some((_, by_name))) = (spans.get(shadowed), spans.get(by)) {
            f.warning(
                span.clone(),
                format!("route `{name}` can never match: the earlier route `{by_name}` matches every request it would (first match wins)"),
            );
        }
    }
    route_checks::warn_method_gaps(&routes, &spans, &mut f);
    let host_scoped = routes.has_host_scoped();
    if !toml.ledger.enabled {
        route_checks::refuse_background_without_ledger(&toml.routes, &mut f);
    }
    let sync_every_commit = match toml
        .ledger
        .sync
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("full", _)) => true,
        Some(("normal", _)) => false,
        Some((other, span)) => {
            f.error(
                span,
                format!(
                    "unknown ledger sync `{other}`: expected \"full\" (the default) or \"normal\""
                ),
            );
            true
        }
    };
    if let Some(booth) = &mut toll {
        booth.invoice_options = toll_options.clone();
    }
    let toll_route = match (&mut toll, &default_origin) {
        (Some(booth), Some(origin)) => {
            booth.default_offers = super::toll::offers(booth, &toll_options, "", "", None);
            Some(Arc::new(Route {
                name: "toll_booth".to_string(),
                origin: origin.clone(),
                pricing: Pricing::Free,
                free_methods: Vec::new(),
                settle: crate::snapshot::SettlePolicy::After,
                pass: None,
                payment_id: None,
                sign_in: None,
                usd_price: None,
                toll_offers: crate::toll::policy::TollOffers::default(),
            }))
        }
        _ => None,
    };
    let access_log_json = access_log_json(&toml.access_log, &mut f);
    if f.has_errors() {
        return Err(ConfigError { findings: f.list });
    }
    let (Some(facilitator), Some(listen)) = (facilitator, listen) else {
        return Err(ConfigError { findings: f.list });
    };
    let warnings = f
        .list
        .into_iter()
        .filter(|x| x.severity == Severity::Warning)
        .collect();
    Ok(Compiled {
        snapshot: Snapshot {
            version: ctx.version,
            loaded_at: ctx.now,
            source: path.to_path_buf(),
            listen,
            tls_listen,
            admin_listen,
            admin_token,
            threads: toml
                .server
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            public_url,
            trusted_proxies,
            default_origin,
            routes,
            origins,
            verifier: facilitator.clone(),
            settler: facilitator.clone(),
            facilitator,
            max_payment_header_bytes: toml.server.max_payment_header_bytes.max(1024),
            request_rules: RequestRules {
                max_header_bytes: toml.server.max_request_header_bytes.max(1024),
                drop_underscore_headers: toml.server.drop_underscore_headers,
                strip_headers: toml
                    .server
                    .strip_request_headers
                    .iter()
                    .map(|h| h.to_ascii_lowercase().replace('_', "-"))
                    .collect(),
                host_scoped,
            },
            connection_limits: ConnectionLimits {
                header_timeout: Duration::from_millis(toml.server.header_timeout_ms.max(1)),
                idle_timeout: Duration::from_millis(toml.server.idle_timeout_ms.max(1)),
                max_connections: toml.server.max_connections.max(1),
            },
            max_verifications_per_ip: toml.facilitator.max_verifications_per_ip.max(1),
            access_log_query: toml.access_log.query,
            access_log_json,
            chains: chains.readers,
            onchain: chains.settlers,
            ledger: toml.ledger.enabled.then(|| LedgerSettings {
                sync_every_commit,
                path: base.join(&toml.ledger.path),
                group_commit: toml.ledger.group_commit,
                max_size_bytes: toml
                    .ledger
                    .max_size_mb
                    .map(|mb| (mb.max(0.0) * f64::from(1u32 << 20)) as u64),
            }),
            access: access.settings,
            toll: toll.map(Arc::new),
            toll_route,
        },
        warnings,
    })
}

fn compile_route(
    r: &RouteToml,
    origins: &BTreeMap<String, Arc<Origin>>,
    default_origin: &Option<Arc<Origin>>,
    toml: &GatewayToml,
    access: &mut super::access::AccessBuilder,
    prices: Prices<'_>,
    f: &mut Findings<'_>,
) -> Option<Route> {
    let payment = prices.payment;
    let origin = match &r.origin {
        Some(name) => lookup_origin(name, origins, toml, f),
        None => {
            if default_origin.is_none() {
                f.error(
                    r.path.span(),
                    "this route has no `origin` and there is no default: set `origin = \"NAME\"` or `[server].default_origin`",
                );
            }
            default_origin.clone()
        }
    };
    let free = match r.price.get_ref() {
        PriceToml::Text(t) => matches!(parse_price_text(t), Ok(PriceText::Free)),
        PriceToml::Atomic(_) => false,
    };
    let mut granted = (None, None, None);
    let mut usd_price = None;
    let mut toll_offers = crate::toll::policy::TollOffers::default();
    let pricing = if free {
        if let Some(booth) = prices.booth {
            toll_offers = super::toll::offers(
                booth,
                prices.toll_options,
                r.description.as_deref().unwrap_or(""),
                r.mime_type.as_deref().unwrap_or(""),
                r.resource.clone(),
            );
        }
        if !r.accepts.is_empty() {
            f.warning(
                r.price.span(),
                "this route is free; its `accepts` are ignored",
            );
        }
        if r.pass.is_some() || r.sign_in.is_some() || r.payment_identifier.is_some() {
            f.warning(
                r.price.span(),
                "this route is free; its `pass`, `sign_in` and `payment_identifier` are ignored",
            );
        }
        Pricing::Free
    } else {
        let case_sensitive = r.case_sensitive.unwrap_or(toml.server.case_sensitive);
        let offers = super::access::route(r, case_sensitive, toml.ledger.enabled, access, f);
        let mut options = payment.options(
            &r.price,
            &r.accepts,
            r.path.span(),
            r.allow_mixed_networks,
            f,
        );
        payment.unsettled_caps(&mut options, r.max_unsettled.as_ref(), f);
        usd_price = options
            .first()
            .and_then(crate::toll::usd::MicroUsd::of_option);
        if let Some(booth) = prices.booth {
            toll_offers = super::toll::offers(
                booth,
                &options,
                r.description.as_deref().unwrap_or(""),
                r.mime_type.as_deref().unwrap_or(""),
                r.resource.clone(),
            );
        }
        let challenge = Challenge::with_extensions(
            &options,
            r.description.as_deref().unwrap_or(""),
            r.mime_type.as_deref().unwrap_or(""),
            r.resource.clone(),
            offers.extensions,
        );
        granted = (offers.pass, offers.payment_id, offers.sign_in);
        Pricing::Paid(Box::new(challenge))
    };
    let (pass, payment_id, sign_in) = granted;
    let free_methods = route_checks::free_methods(r, &pricing, f);
    let settle = route_checks::settle_policy(r, f);
    Some(Route {
        name: route_name(r),
        origin: origin?,
        pricing,
        free_methods,
        settle,
        pass,
        payment_id,
        sign_in,
        usd_price,
        toll_offers,
    })
}

/// How routes are priced: `[payment]`'s defaults, and the toll booth's prices with
/// `[payment]`'s options for free routes (re-priced per toll price).
#[derive(Clone, Copy)]
struct Prices<'a> {
    payment: &'a PaymentDefaults,
    booth: Option<&'a crate::toll::policy::TollBooth>,
    toll_options: &'a [crate::price::PaymentOption],
}

fn methods(r: &RouteToml) -> Vec<String> {
    let mut list: Vec<String> = r.methods.as_ref().map_or_else(
        || vec!["*".to_string()],
        |m| m.get_ref().iter().map(|s| s.to_ascii_uppercase()).collect(),
    );
    if list.iter().any(|m| m == "GET") && !list.iter().any(|m| m == "HEAD") {
        list.push("HEAD".to_string());
    }
    list
}

fn route_name(r: &RouteToml) -> String {
    r.name.clone().unwrap_or_else(|| {
        let methods = r
            .methods
            .as_ref()
            .map_or_else(|| "*".to_string(), |m| m.get_ref().join(","));
        let host = r.host.as_ref().map_or("*", |h| h.get_ref().as_str());
        format!("{methods} {host}{}", r.path.get_ref())
    })
}

fn lookup_origin(
    name: &Spanned<String>,
    origins: &BTreeMap<String, Arc<Origin>>,
    toml: &GatewayToml,
    f: &mut Findings<'_>,
) -> Option<Arc<Origin>> {
    let found = origins.get(name.get_ref()).cloned();
    // An origin that exists but failed to compile has its own error already.
    if found.is_none() && !toml.origins.contains_key(name.get_ref()) {
        let known: Vec<&str> = toml.origins.keys().map(String::as_str).collect();
        f.error(
            name.span(),
            format!(
                "there is no origin `{}`: defined origins are [{}]",
                name.get_ref(),
                known.join(", ")
            ),
        );
    }
    found
}

fn listen_addresses(server: &ServerToml, f: &mut Findings<'_>) -> Option<Vec<String>> {
    if server.listen.is_empty() {
        f.error(
            0..0,
            "`[server].listen` is empty: give at least one address such as \"0.0.0.0:8402\"",
        );
        return None;
    }
    let parsed: Vec<String> = server
        .listen
        .iter()
        .filter_map(|a| socket(a, f).map(|s| s.to_string()))
        .collect();
    (parsed.len() == server.listen.len()).then_some(parsed)
}

fn tls_listener(t: &TlsListenerToml, base: &Path, f: &mut Findings<'_>) -> Option<TlsListener> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let listen = socket(&t.listen, f)?.to_string();
    let cert = base.join(t.cert.get_ref());
    let key = base.join(t.key.get_ref());
    let certs_ok = CertificateDer::pem_file_iter(&cert)
        .map(|mut it| it.next().is_some_and(|c| c.is_ok()))
        .unwrap_or(false);
    if !certs_ok {
        f.error(
            t.cert.span(),
            format!(
                "`{}` is not a readable PEM certificate chain",
                cert.display()
            ),
        );
    }
    if PrivateKeyDer::from_pem_file(&key).is_err() {
        f.error(
            t.key.span(),
            format!("`{}` is not a readable PEM private key", key.display()),
        );
    }
    Some(TlsListener { listen, cert, key })
}

fn socket(a: &Spanned<String>, f: &mut Findings<'_>) -> Option<SocketAddr> {
    a.get_ref()
        .parse()
        .map_err(|_| {
            f.error(
                a.span(),
                format!(
                    "`{}` is not an `ip:port` address, e.g. \"127.0.0.1:8402\"",
                    a.get_ref()
                ),
            )
        })
        .ok()
}

fn socket_or_empty(a: &Spanned<String>, f: &mut Findings<'_>) -> Option<String> {
    if a.get_ref().is_empty() {
        None
    } else {
        socket(a, f).map(|s| s.to_string())
    }
}

pub(super) fn http_url(u: &Spanned<String>, f: &mut Findings<'_>) -> Option<String> {
    let s = u.get_ref().trim();
    let valid = (s.starts_with("http://") || s.starts_with("https://"))
        && s.parse::<http::Uri>().is_ok_and(|uri| uri.host().is_some());
    if !valid {
        f.error(
            u.span(),
            format!("`{s}` is not an http(s) URL such as \"https://api.example.com\""),
        );
        return None;
    }
    Some(s.trim_end_matches('/').to_string())
}

fn cidr(p: &Spanned<String>, f: &mut Findings<'_>) -> Option<ipnet::IpNet> {
    let s = p.get_ref().trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            f.error(
                p.span(),
                format!("`{s}` is not an IP address or CIDR range such as \"10.0.0.0/8\""),
            )
        })
        .ok()
}

#[cfg(test)]
mod tests;

/// `[access_log] format`: `"text"` (the default) or `"json"`.
fn access_log_json(a: &super::schema::AccessLogToml, f: &mut Findings<'_>) -> bool {
    match a.format.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("text", _)) => false,
        Some(("json", _)) => true,
        Some((other, span)) => {
            f.error(
                span,
                format!("unknown access log format `{other}`: expected \"text\" or \"json\""),
            );
            false
        }
    }
}

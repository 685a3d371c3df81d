//! One route's 402 challenge, precomputed at config load (spec §4.7, §10).
//!
//! Requirements are built once, so the same route yields byte-identical `accepts` every time (the v2
//! reference client echoes one verbatim and servers deep-compare it; drift breaks every payment).
//! A 402 carries both generations: the v2 `PAYMENT-REQUIRED` header and a v1 JSON body listing the
//! options whose network has a v1 name. Only `resource.url`, `error` and the sign-in fields vary per
//! request, so the 402 is encoded once at load with holes where they go (a [`Template`]): the
//! header JSON before the first hole is padded with JSON whitespace to a multiple of 3 bytes, so
//! its base64 is a fixed prefix, and the rest is filled and encoded per request.

use alloy_primitives::{Address, U256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

use std::sync::Arc;

use super::{SharedJson, v1, v2};
use crate::access::payment_id::{self, EXTENSION as PAYMENT_ID};
use crate::access::siwx::{self, EXTENSION as SIGN_IN, Nonces};
use crate::clock::{Clock, SystemClock};
use crate::evm::eip712::DomainSeparator;
use crate::evm::exact::Expected;
use crate::price::PaymentOption;
use crate::rfc3339::format_rfc3339_ms;

/// One payable option of a route, in both wire shapes.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The v2 requirement exactly as sent.
    pub v2: v2::PaymentRequirements,
    /// The v2 requirement as JSON (and its text, for the ledger), for the facilitator.
    pub v2_json: SharedJson,
    /// The v1 requirement (with an empty `resource`, filled per request), if the network has a v1 name.
    pub v1: Option<v1::PaymentRequirements>,
    /// What a matching authorization must pay.
    pub expected: Expected,
    /// Decimals of the asset, for showing amounts to people.
    pub decimals: u8,
    /// The most one payer may owe unsettled in this asset (`settle = "background"`).
    pub max_unsettled: U256,
}

/// `error` of the v2 challenge when no payment was sent (the official servers' text).
pub const UNPAID_V2: &str = "Payment required";
/// `error` of the v1 body when no payment was sent (the legacy middleware's text).
pub const UNPAID_V1: &str = "X-PAYMENT header is required";

/// Stands where the resource URL goes while the unpaid 402 is encoded at load.
const URL_HOLE: &str = "\u{1}x402-resource-url\u{1}";

/// What varies per request in a v2 402, each with the marker that stands for it at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Url,
    Error,
    Domain,
    Nonce,
    IssuedAt,
    Expires,
}

impl Hole {
    const ALL: [Hole; 6] = [
        Hole::Url,
        Hole::Error,
        Hole::Domain,
        Hole::Nonce,
        Hole::IssuedAt,
        Hole::Expires,
    ];

    fn marker(self) -> &'static str {
        match self {
            Self::Url => URL_HOLE,
            Self::Error => "\u{1}x402-error\u{1}",
            Self::Domain => "\u{1}x402-domain\u{1}",
            Self::Nonce => "\u{1}x402-nonce\u{1}",
            Self::IssuedAt => "\u{1}x402-issued-at\u{1}",
            Self::Expires => "\u{1}x402-expires\u{1}",
        }
    }
}

/// The per-request values of a v2 402.
#[derive(Debug, Clone)]
struct Fill<'a> {
    url: &'a str,
    error: &'a str,
    sign_in: Option<SignInFill>,
}

/// The `sign-in-with-x` fields minted for one 402.
#[derive(Debug, Clone)]
struct SignInFill {
    domain: String,
    nonce: String,
    issued_at: String,
    expires: String,
}

impl Fill<'_> {
    fn value(&self, hole: Hole) -> &str {
        let sign_in = self.sign_in.as_ref();
        match hole {
            Hole::Url => self.url,
            Hole::Error => self.error,
            Hole::Domain => sign_in.map_or("", |s| &s.domain),
            Hole::Nonce => sign_in.map_or("", |s| &s.nonce),
            Hole::IssuedAt => sign_in.map_or("", |s| &s.issued_at),
            Hole::Expires => sign_in.map_or("", |s| &s.expires),
        }
    }
}

/// Extensions a route's 402 advertises (spec table 4.8).
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// `payment-identifier`, with `info.required`.
    pub payment_identifier: Option<bool>,
    /// `sign-in-with-x`.
    pub sign_in: Option<SignInAdvert>,
}

/// How a route offers Sign-In-With-X.
#[derive(Clone)]
pub struct SignInAdvert {
    pub nonces: Arc<Nonces>,
    pub statement: Option<String>,
    /// How long a message is good for after its `issuedAt` (its `expirationTime`).
    pub max_age_secs: u64,
}

impl std::fmt::Debug for SignInAdvert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInAdvert")
            .field("statement", &self.statement)
            .field("max_age_secs", &self.max_age_secs)
            .finish()
    }
}

/// The v2 402 encoded once around its holes: `prefix_b64` is the base64 of everything before
/// the first hole (padded with JSON whitespace to a multiple of 3 bytes, so it concatenates),
/// then each hole's value is followed by the JSON up to the next one.
#[derive(Debug)]
struct Template {
    prefix_b64: String,
    pieces: Vec<(Hole, String)>,
}

impl Template {
    fn new(json: &str) -> Self {
        let quoted: Vec<(Hole, String)> = Hole::ALL
            .iter()
            .map(|h| (*h, serde_json::to_string(h.marker()).unwrap_or_default()))
            .collect();
        let next = |from: usize| {
            quoted
                .iter()
                .filter_map(|(h, q)| {
                    json[from..]
                        .find(q.as_str())
                        .map(|at| (from + at, *h, q.len()))
                })
                .min_by_key(|(at, _, _)| *at)
        };
        let Some((first, mut hole, len)) = next(0) else {
            return Self {
                prefix_b64: STANDARD.encode(json),
                pieces: Vec::new(),
            };
        };
        let mut prefix = json[..first].to_string();
        while !prefix.len().is_multiple_of(3) {
            prefix.push(' ');
        }
        let mut pieces = Vec::new();
        let mut at = first + len;
        loop {
            match next(at) {
                Some((found, h, l)) => {
                    pieces.push((hole, json[at..found].to_string()));
                    (hole, at) = (h, found + l);
                }
                None => {
                    pieces.push((hole, json[at..].to_string()));
                    break;
                }
            }
        }
        Self {
            prefix_b64: STANDARD.encode(prefix),
            pieces,
        }
    }

    fn render(&self, fill: &Fill<'_>) -> String {
        let mut tail = String::with_capacity(512);
        for (hole, piece) in &self.pieces {
            // Strings serialize infallibly.
            tail.push_str(&serde_json::to_string(fill.value(*hole)).unwrap_or_default());
            tail.push_str(piece);
        }
        let mut out = String::with_capacity(self.prefix_b64.len() + tail.len() * 4 / 3 + 4);
        out.push_str(&self.prefix_b64);
        STANDARD.encode_string(tail, &mut out);
        out
    }
}

/// The precomputed challenge of a route.
#[derive(Debug)]
pub struct Challenge {
    offers: Vec<Offer>,
    accepts_v2: Box<RawValue>,
    description: String,
    mime_type: String,
    /// A fixed `resource.url` from the config, instead of the request URL.
    resource: Option<String>,
    extensions: Extensions,
    /// Every v2 402 of this route, holes and all.
    template: Template,
    /// The unpaid v1 body split where each entry's `resource` goes.
    unpaid_v1: Option<Vec<String>>,
}

impl Challenge {
    /// Builds the challenge for options in preference order.
    pub fn new(
        options: &[PaymentOption],
        description: &str,
        mime_type: &str,
        resource: Option<String>,
    ) -> Self {
        Self::with_extensions(
            options,
            description,
            mime_type,
            resource,
            Extensions::default(),
        )
    }

    /// Builds the challenge, advertising `extensions`.
    pub fn with_extensions(
        options: &[PaymentOption],
        description: &str,
        mime_type: &str,
        resource: Option<String>,
        extensions: Extensions,
    ) -> Self {
        // No control characters: they cannot be mistaken for the holes' markers.
        let clean = |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
        let (description, mime_type) = (clean(description), clean(mime_type));
        let mut offers: Vec<Offer> = options.iter().map(offer).collect();
        for v1 in offers.iter_mut().filter_map(|o| o.v1.as_mut()) {
            v1.description.clone_from(&description);
            v1.mime_type.clone_from(&mime_type);
        }
        let list: Vec<&v2::PaymentRequirements> = offers.iter().map(|o| &o.v2).collect();
        // Plain structs of strings and numbers: serializing them cannot fail.
        #[allow(clippy::expect_used)]
        let accepts_v2 = serde_json::value::to_raw_value(&list).expect("requirements serialize");
        let mut challenge = Self {
            offers,
            accepts_v2,
            description,
            mime_type,
            resource: resource.map(|r| clean(&r)),
            extensions,
            template: Template::new(""),
            unpaid_v1: None,
        };
        let holes = Fill {
            url: Hole::Url.marker(),
            error: Hole::Error.marker(),
            sign_in: Some(SignInFill {
                domain: Hole::Domain.marker().into(),
                nonce: Hole::Nonce.marker().into(),
                issued_at: Hole::IssuedAt.marker().into(),
                expires: Hole::Expires.marker().into(),
            }),
        };
        challenge.template = Template::new(&challenge.render_json(&holes));
        challenge.unpaid_v1 = challenge.encode_unpaid_v1();
        challenge
    }

    /// Splits the unpaid v1 body where the URL goes; `None` if the hole is not found exactly
    /// once per entry (then it is rendered in full, which is only slower).
    fn encode_unpaid_v1(&self) -> Option<Vec<String>> {
        let hole = serde_json::to_string(URL_HOLE).ok()?;
        let body = String::from_utf8(self.render_v1(URL_HOLE, UNPAID_V1)).ok()?;
        let parts: Vec<String> = body.split(&hole).map(str::to_string).collect();
        let v1_count = self.offers.iter().filter(|o| o.v1.is_some()).count();
        (parts.len() == v1_count + 1).then_some(parts)
    }

    /// The v2 402 as JSON, in full.
    fn render_json(&self, fill: &Fill<'_>) -> String {
        let extensions = self.extensions_json(fill);
        let required = v2::PaymentRequired {
            x402_version: 2,
            accepts: &self.accepts_v2,
            resource: v2::ResourceInfo {
                description: &self.description,
                mime_type: &self.mime_type,
                url: fill.url,
            },
            error: fill.error,
            extensions: extensions.as_ref(),
        };
        serde_json::to_string(&required).unwrap_or_else(|_| "{}".into())
    }

    fn extensions_json(&self, fill: &Fill<'_>) -> Option<serde_json::Value> {
        let mut map = serde_json::Map::new();
        if let Some(required) = self.extensions.payment_identifier {
            map.insert(PAYMENT_ID.into(), payment_id::advertised(required));
        }
        if let (Some(advert), Some(values)) = (&self.extensions.sign_in, &fill.sign_in) {
            let chains: Vec<serde_json::Value> = self
                .offers
                .iter()
                .map(|o| o.v2.network.as_str())
                .filter(|n| n.starts_with("eip155:"))
                .fold(Vec::new(), |mut seen: Vec<&str>, n| {
                    if !seen.contains(&n) {
                        seen.push(n);
                    }
                    seen
                })
                .into_iter()
                .map(|n| serde_json::json!({"chainId": n, "type": "eip191"}))
                .collect();
            // What never changes first, so it falls in the 402's prefix encoded once at load.
            let mut info = serde_json::Map::new();
            info.insert("version".into(), "1".into());
            if let Some(statement) = &advert.statement {
                info.insert("statement".into(), statement.clone().into());
            }
            for (key, value) in [
                ("domain", values.domain.as_str()),
                ("uri", fill.url),
                ("nonce", &values.nonce),
                ("issuedAt", &values.issued_at),
                ("expirationTime", &values.expires),
            ] {
                info.insert(key.into(), value.into());
            }
            info.insert("resources".into(), serde_json::json!([fill.url]));
            map.insert(
                SIGN_IN.into(),
                serde_json::json!({"schema": siwx::schema(), "supportedChains": chains, "info": info}),
            );
        }
        (!map.is_empty()).then_some(serde_json::Value::Object(map))
    }

    /// The values of one 402: a fresh sign-in nonce when the route offers sign-in.
    fn fill<'a>(&self, url: &'a str, error: &'a str) -> Fill<'a> {
        let sign_in = self.extensions.sign_in.as_ref().map(|advert| {
            let now = SystemClock.now_secs();
            let issued_at = format_rfc3339_ms(now * 1000);
            SignInFill {
                domain: authority(url).to_string(),
                nonce: advert.nonces.mint(&issued_at, url),
                expires: format_rfc3339_ms((now + advert.max_age_secs) * 1000),
                issued_at,
            }
        });
        Fill {
            url,
            error,
            sign_in,
        }
    }

    /// The options, first preferred.
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// What the route's 402 advertises.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The URL to name as the resource: the configured one, else the request's.
    pub fn resource_url<'a>(&'a self, request_url: &'a str) -> &'a str {
        self.resource.as_deref().unwrap_or(request_url)
    }

    /// The base64 `PAYMENT-REQUIRED` header value.
    pub fn header_value(&self, request_url: &str, error: &str) -> String {
        let fill = self.fill(self.resource_url(request_url), error);
        self.template.render(&fill)
    }

    /// The v1 JSON body (`{x402Version:1, error, accepts}`).
    pub fn v1_body(&self, request_url: &str, error: &str) -> Vec<u8> {
        let url = self.resource_url(request_url);
        match &self.unpaid_v1 {
            Some(u) if error == UNPAID_V1 => {
                let url_json = serde_json::to_string(url).unwrap_or_default();
                u.join(&url_json).into_bytes()
            }
            _ => self.render_v1(url, error),
        }
    }

    fn render_v1(&self, url: &str, error: &str) -> Vec<u8> {
        let accepts = self
            .offers
            .iter()
            .filter_map(|o| o.v1.clone())
            .map(|mut r| {
                r.resource = url.to_string();
                r
            })
            .collect();
        serde_json::to_vec(&v1::PaymentRequired {
            x402_version: 1,
            error,
            accepts,
        })
        .unwrap_or_else(|_| b"{}".to_vec())
    }

    /// The v1 requirement of an offer as JSON for the facilitator, with this request's resource.
    pub fn v1_requirement_json(&self, offer: &Offer, request_url: &str) -> SharedJson {
        offer
            .v1
            .as_ref()
            .map(|r| {
                let mut r = r.clone();
                r.resource = self.resource_url(request_url).to_string();
                SharedJson::from_value(serde_json::to_value(r).unwrap_or_default())
            })
            .unwrap_or_default()
    }

    /// v2: the offer whose requirement equals `accepted` (core fields exact, `extra` a superset of
    /// ours, as newer official servers compare; spec §4.5).
    pub fn match_v2(&self, accepted: &serde_json::Value) -> Option<&Offer> {
        let a = accepted.as_object()?;
        let text = |k: &str| a.get(k).and_then(|v| v.as_str());
        self.offers.iter().find(|o| {
            let r = &o.v2;
            text("scheme") == Some(&r.scheme)
                && text("network") == Some(&r.network)
                && text("amount") == Some(&r.amount)
                && text("asset").is_some_and(|s| s.eq_ignore_ascii_case(&r.asset))
                && text("payTo").is_some_and(|s| s.eq_ignore_ascii_case(&r.pay_to))
                && a.get("maxTimeoutSeconds").and_then(|v| v.as_u64())
                    == Some(r.max_timeout_seconds)
                && a.get("extra")
                    .and_then(|e| e.as_object())
                    .is_some_and(|extra| r.extra.iter().all(|(k, v)| extra.get(k) == Some(v)))
        })
    }

    /// v1: the first offer with this scheme and v1 network name (spec §3.3); amount and payTo are
    /// checked afterwards against the authorization.
    pub fn match_v1(&self, scheme: &str, network: &str) -> Option<&Offer> {
        self.offers.iter().find(|o| {
            o.v1.as_ref()
                .is_some_and(|r| r.scheme == scheme && r.network == network)
        })
    }
}

/// `host[:port]` of an absolute URL (what SIWX calls the domain).
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn offer(option: &PaymentOption) -> Offer {
    let mut extra = serde_json::Map::new();
    extra.insert("name".into(), option.asset.eip712_name.clone().into());
    extra.insert("version".into(), option.asset.eip712_version.clone().into());
    let amount = option.amount_atomic.to_string();
    let v2 = v2::PaymentRequirements {
        scheme: "exact".into(),
        network: option.network.caip2.clone(),
        amount: amount.clone(),
        asset: option.asset.address.clone(),
        pay_to: option.pay_to.clone(),
        max_timeout_seconds: option.max_timeout_secs,
        extra: extra.clone(),
    };
    let v1 = option.network.v1_name.map(|name| v1::PaymentRequirements {
        scheme: "exact".into(),
        network: name.to_string(),
        max_amount_required: amount,
        resource: String::new(),
        description: String::new(),
        mime_type: String::new(),
        pay_to: option.pay_to.clone(),
        max_timeout_seconds: option.max_timeout_secs,
        asset: option.asset.address.clone(),
        extra,
    });
    Offer {
        v2_json: SharedJson::from_value(serde_json::to_value(&v2).unwrap_or_default()),
        v2,
        v1,
        expected: Expected {
            pay_to: option.pay_to.parse().unwrap_or(Address::ZERO),
            amount: U256::from(option.amount_atomic),
            domain: DomainSeparator::new(
                &option.asset.eip712_name,
                &option.asset.eip712_version,
                option.network.chain_id,
                option.asset.address.parse().unwrap_or(Address::ZERO),
            ),
        },
        decimals: option.asset.decimals,
        max_unsettled: U256::from(option.max_unsettled_atomic),
    }
}

#[cfg(test)]
mod tests;

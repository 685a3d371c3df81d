//! One route's 402 challenge, precomputed at config load (spec §4.7, §10).
//!
//! Requirements are built once, so the same route yields byte-identical `accepts` every time (the v2
//! reference client echoes one verbatim and servers deep-compare it; drift breaks every payment).
//! A 402 carries both generations: the v2 `PAYMENT-REQUIRED` header and a v1 JSON body listing the
//! options whose network has a v1 name. Only `resource.url` varies per request, so the unpaid 402
//! (the hot one) is encoded once at load with a hole where the URL goes: the header JSON before the
//! URL is padded with JSON whitespace to a multiple of 3 bytes, so its base64 is a fixed prefix.

use alloy_primitives::{Address, U256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

use super::{encode_header, v1, v2};
use crate::evm::eip712::DomainSeparator;
use crate::evm::exact::Expected;
use crate::price::PaymentOption;

/// One payable option of a route, in both wire shapes.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The v2 requirement exactly as sent.
    pub v2: v2::PaymentRequirements,
    /// The v2 requirement as JSON, for the facilitator.
    pub v2_json: serde_json::Value,
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

/// The unpaid 402, encoded once around the URL.
#[derive(Debug)]
struct Unpaid {
    /// base64 of the header JSON before the URL (a multiple of 3 bytes, so it concatenates).
    header_b64_prefix: String,
    /// Header JSON after the URL.
    header_suffix: String,
    /// The v1 body split where each entry's `resource` goes.
    v1_parts: Vec<String>,
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
    unpaid: Option<Unpaid>,
}

impl Challenge {
    /// Builds the challenge for options in preference order.
    pub fn new(
        options: &[PaymentOption],
        description: &str,
        mime_type: &str,
        resource: Option<String>,
    ) -> Self {
        let mut offers: Vec<Offer> = options.iter().map(offer).collect();
        for v1 in offers.iter_mut().filter_map(|o| o.v1.as_mut()) {
            v1.description = description.to_string();
            v1.mime_type = mime_type.to_string();
        }
        let list: Vec<&v2::PaymentRequirements> = offers.iter().map(|o| &o.v2).collect();
        // Plain structs of strings and numbers: serializing them cannot fail.
        #[allow(clippy::expect_used)]
        let accepts_v2 = serde_json::value::to_raw_value(&list).expect("requirements serialize");
        let mut challenge = Self {
            offers,
            accepts_v2,
            description: description.to_string(),
            mime_type: mime_type.to_string(),
            resource,
            unpaid: None,
        };
        challenge.unpaid = challenge.encode_unpaid();
        challenge
    }

    /// Encodes the unpaid 402 with a hole for the URL; `None` if the hole cannot be found exactly
    /// where expected (then every 402 is rendered in full, which is only slower).
    fn encode_unpaid(&self) -> Option<Unpaid> {
        let hole = serde_json::to_string(URL_HOLE).ok()?;
        let header = serde_json::to_string(&self.payment_required(URL_HOLE, UNPAID_V2)).ok()?;
        let (before, after) = header.split_once(&hole)?;
        let mut before = before.to_string();
        while before.len() % 3 != 0 {
            before.push(' ');
        }
        let body = String::from_utf8(self.render_v1(URL_HOLE, UNPAID_V1)).ok()?;
        let v1_parts: Vec<String> = body.split(&hole).map(str::to_string).collect();
        let v1_count = self.offers.iter().filter(|o| o.v1.is_some()).count();
        (!after.contains(&hole) && v1_parts.len() == v1_count + 1).then(|| Unpaid {
            header_b64_prefix: STANDARD.encode(before),
            header_suffix: after.to_string(),
            v1_parts,
        })
    }

    fn payment_required<'a>(&'a self, url: &'a str, error: &'a str) -> v2::PaymentRequired<'a> {
        v2::PaymentRequired {
            x402_version: 2,
            error,
            accepts: &self.accepts_v2,
            resource: v2::ResourceInfo {
                description: &self.description,
                mime_type: &self.mime_type,
                url,
            },
        }
    }

    /// The options, first preferred.
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The URL to name as the resource: the configured one, else the request's.
    pub fn resource_url<'a>(&'a self, request_url: &'a str) -> &'a str {
        self.resource.as_deref().unwrap_or(request_url)
    }

    /// The base64 `PAYMENT-REQUIRED` header value.
    pub fn header_value(&self, request_url: &str, error: &str) -> String {
        let url = self.resource_url(request_url);
        match &self.unpaid {
            Some(u) if error == UNPAID_V2 => {
                let mut tail = serde_json::to_string(url).unwrap_or_default();
                tail.push_str(&u.header_suffix);
                let mut out =
                    String::with_capacity(u.header_b64_prefix.len() + tail.len() * 4 / 3 + 4);
                out.push_str(&u.header_b64_prefix);
                STANDARD.encode_string(tail, &mut out);
                out
            }
            _ => encode_header(&self.payment_required(url, error)),
        }
    }

    /// The v1 JSON body (`{x402Version:1, error, accepts}`).
    pub fn v1_body(&self, request_url: &str, error: &str) -> Vec<u8> {
        let url = self.resource_url(request_url);
        match &self.unpaid {
            Some(u) if error == UNPAID_V1 => {
                let url_json = serde_json::to_string(url).unwrap_or_default();
                u.v1_parts.join(&url_json).into_bytes()
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
    pub fn v1_requirement_json(&self, offer: &Offer, request_url: &str) -> serde_json::Value {
        offer
            .v1
            .as_ref()
            .map(|r| {
                let mut r = r.clone();
                r.resource = self.resource_url(request_url).to_string();
                serde_json::to_value(r).unwrap_or_default()
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
        v2_json: serde_json::to_value(&v2).unwrap_or_default(),
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

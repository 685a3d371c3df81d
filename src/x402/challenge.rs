//! One route's 402 challenge, precomputed at config load (spec §4.7, §10).
//!
//! Requirements are built once, so the same route yields byte-identical `accepts` every time (the v2
//! reference client echoes one verbatim and servers deep-compare it; drift breaks every payment).
//! A 402 carries both generations: the v2 `PAYMENT-REQUIRED` header and a v1 JSON body listing the
//! options whose network has a v1 name. Only `resource.url` varies per request.

use alloy_primitives::{Address, U256};
use serde_json::value::RawValue;

use super::{encode_header, v1, v2};
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
        let json = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        let accepts_v2 = RawValue::from_string(json).unwrap_or_else(|_| empty_list());
        Self {
            offers,
            accepts_v2,
            description: description.to_string(),
            mime_type: mime_type.to_string(),
            resource,
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
        encode_header(&v2::PaymentRequired {
            x402_version: 2,
            error,
            resource: v2::ResourceInfo {
                url: self.resource_url(request_url),
                description: &self.description,
                mime_type: &self.mime_type,
            },
            accepts: &self.accepts_v2,
        })
    }

    /// The v1 JSON body (`{x402Version:1, error, accepts}`).
    pub fn v1_body(&self, request_url: &str, error: &str) -> Vec<u8> {
        let url = self.resource_url(request_url);
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

fn empty_list() -> Box<RawValue> {
    RawValue::from_string("[]".to_string()).unwrap_or_else(|_| unreachable_raw())
}

#[allow(clippy::unwrap_used)] // a literal that is valid JSON
fn unreachable_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).unwrap()
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
        },
        decimals: option.asset.decimals,
    }
}

#[cfg(test)]
mod tests;

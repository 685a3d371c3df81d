//! Compiles prices, assets and payment options: `"$0.001"` on `eip155:84532` in `USDC` to `pay_to`
//! becomes a [`PaymentOption`] with an exact atomic amount.

use std::collections::BTreeMap;
use std::ops::Range;

use alloy_primitives::Address;
use toml::Spanned;

use super::error::Findings;
use super::schema::{AcceptToml, AssetToml, PaymentToml, PriceToml};
use crate::price::{
    Asset, Network, PaymentOption, PriceText, known_asset, known_symbols, parse_price_text,
    to_atomic,
};

/// Default `maxTimeoutSeconds`, as the official v2 server (spec §4.2).
pub const DEFAULT_MAX_TIMEOUT_SECS: u64 = 300;

/// `[payment]` and `[assets]`, compiled.
pub struct PaymentDefaults {
    networks: Vec<Network>,
    pay_to: Option<String>,
    /// `[payment].pay_to` was written (possibly invalid, already reported).
    pay_to_written: bool,
    asset: Spanned<String>,
    max_timeout_secs: u64,
    custom: BTreeMap<String, (Network, Asset)>,
    /// `[payment].allow_mixed_networks`.
    allow_mixed: bool,
    /// `[payment].max_unsettled`.
    max_unsettled: Option<Spanned<PriceToml>>,
}

impl PaymentDefaults {
    pub fn compile(
        payment: &PaymentToml,
        assets: &BTreeMap<String, AssetToml>,
        f: &mut Findings<'_>,
    ) -> Self {
        let networks: Vec<Network> = payment
            .networks
            .iter()
            .filter_map(|n| network(n, f))
            .collect();
        if !payment.allow_mixed_networks
            && let Some((a, b)) = mixed_pair(&networks)
        {
            let span = payment.networks.first().map_or(0..0, Spanned::span);
            f.error(span, mixed_message(a, b, "`[payment]`"));
        }
        let custom = assets
            .iter()
            .filter_map(|(symbol, a)| {
                let net = network(&a.network, f)?;
                let address = pay_to_address(&a.address, f)?;
                Some((
                    symbol.to_ascii_uppercase(),
                    (
                        net,
                        Asset {
                            symbol: symbol.clone(),
                            address,
                            decimals: a.decimals,
                            eip712_name: a.eip712_name.clone(),
                            eip712_version: a.eip712_version.clone(),
                            usd: a.usd,
                        },
                    ),
                ))
            })
            .collect();
        Self {
            networks,
            pay_to: payment.pay_to.as_ref().and_then(|p| pay_to_address(p, f)),
            pay_to_written: payment.pay_to.is_some(),
            asset: payment
                .asset
                .clone()
                .unwrap_or_else(|| Spanned::new(0..0, "USDC".to_string())),
            max_timeout_secs: payment
                .max_timeout_seconds
                .unwrap_or(DEFAULT_MAX_TIMEOUT_SECS),
            custom,
            allow_mixed: payment.allow_mixed_networks,
            max_unsettled: payment.max_unsettled.clone(),
        }
    }

    /// Sets each option's unsettled-value cap (`settle = "background"`): the route's
    /// `max_unsettled`, else `[payment].max_unsettled`, else $1 of a USD stablecoin or 1,000
    /// times the price of any other asset.
    pub fn unsettled_caps(
        &self,
        options: &mut [PaymentOption],
        route: Option<&Spanned<PriceToml>>,
        f: &mut Findings<'_>,
    ) {
        let written = route.or(self.max_unsettled.as_ref());
        for option in options.iter_mut() {
            option.max_unsettled_atomic = match written {
                Some(cap) => amount(cap, &option.asset, f).unwrap_or(0),
                None if option.asset.usd => 10u128.pow(u32::from(option.asset.decimals)),
                None => option.amount_atomic.saturating_mul(1000),
            };
        }
    }

    /// `[payment]`'s own options at a nominal $0.01, for the toll booth to re-price on free
    /// routes; an error when there are none (charging a crawler needs a network and `pay_to`).
    pub fn toll_options(&self, f: &mut Findings<'_>) -> Vec<PaymentOption> {
        if self.networks.is_empty() || self.pay_to.is_none() {
            f.error(
                0..0,
                "`[toll_booth]` charges crawlers in USD stablecoins: set `[payment].networks` and `[payment].pay_to`",
            );
            return Vec::new();
        }
        let price = Spanned::new(0..0, PriceToml::Text("$0.01".to_string()));
        let mut options = self.collect_options(&price, &[], 0..0, f);
        self.unsettled_caps(&mut options, None, f);
        options
    }

    /// The options of a priced route, in preference order.
    pub fn options(
        &self,
        price: &Spanned<PriceToml>,
        accepts: &[Spanned<AcceptToml>],
        route_span: Range<usize>,
        allow_mixed: Option<bool>,
        f: &mut Findings<'_>,
    ) -> Vec<PaymentOption> {
        let options = self.collect_options(price, accepts, route_span.clone(), f);
        let allow = allow_mixed.unwrap_or(self.allow_mixed);
        let networks: Vec<Network> = options.iter().map(|o| o.network.clone()).collect();
        // Default options were checked once, with `[payment]`.
        if !allow
            && !accepts.is_empty()
            && let Some((a, b)) = mixed_pair(&networks)
        {
            f.error(route_span, mixed_message(a, b, "this route"));
        }
        options
    }

    fn collect_options(
        &self,
        price: &Spanned<PriceToml>,
        accepts: &[Spanned<AcceptToml>],
        route_span: Range<usize>,
        f: &mut Findings<'_>,
    ) -> Vec<PaymentOption> {
        if accepts.is_empty() {
            if self.networks.is_empty() {
                f.error(
                    price.span(),
                    "this route has a price but no network: set `[payment].networks` (e.g. `[\"eip155:8453\"]`) or give the route `[[routes.accepts]]` with a `network`",
                );
                return Vec::new();
            }
            return self
                .networks
                .iter()
                .filter_map(|net| {
                    let pay_to = PayTo {
                        address: self.pay_to.clone(),
                        written: self.pay_to_written,
                    };
                    self.option(
                        net.clone(),
                        &self.asset,
                        pay_to,
                        price,
                        None,
                        route_span.clone(),
                        f,
                    )
                })
                .collect();
        }
        accepts
            .iter()
            .filter_map(|accept| {
                let a = accept.get_ref();
                let net = match &a.network {
                    Some(n) => network(n, f)?,
                    None => match self.networks.first() {
                        Some(n) => n.clone(),
                        None => {
                            f.error(accept.span(), "this payment option has no `network` and `[payment].networks` is empty");
                            return None;
                        }
                    },
                };
                let pay_to = match &a.pay_to {
                    Some(p) => PayTo { address: pay_to_address(p, f), written: true },
                    None => PayTo { address: self.pay_to.clone(), written: self.pay_to_written },
                };
                self.option(
                    net,
                    a.asset.as_ref().unwrap_or(&self.asset),
                    pay_to,
                    a.price.as_ref().unwrap_or(price),
                    a.max_timeout_seconds,
                    accept.span(),
                    f,
                )
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn option(
        &self,
        network: Network,
        symbol: &Spanned<String>,
        pay_to: PayTo,
        price: &Spanned<PriceToml>,
        max_timeout: Option<u64>,
        span: Range<usize>,
        f: &mut Findings<'_>,
    ) -> Option<PaymentOption> {
        if pay_to.address.is_none() && !pay_to.written {
            f.error(span.clone(), "no `pay_to` for this payment option: set `[payment].pay_to` or `pay_to` in `[[routes.accepts]]`");
        }
        // Check the asset and price even without a recipient, so every error is reported at once.
        let asset = self.asset(&network, symbol, f)?;
        let amount_atomic = amount(price, &asset, f)?;
        let pay_to = pay_to.address?;
        let max_timeout_secs = max_timeout.unwrap_or(self.max_timeout_secs);
        if max_timeout_secs == 0 {
            f.error(span, "`max_timeout_seconds` must be at least 1");
            return None;
        }
        Some(PaymentOption {
            network,
            asset,
            pay_to,
            amount_atomic,
            max_timeout_secs,
            max_unsettled_atomic: 0,
        })
    }

    fn asset(
        &self,
        network: &Network,
        symbol: &Spanned<String>,
        f: &mut Findings<'_>,
    ) -> Option<Asset> {
        let name = symbol.get_ref();
        if let Some((net, asset)) = self.custom.get(&name.to_ascii_uppercase())
            && net == network
        {
            return Some(asset.clone());
        }
        let found = known_asset(network.chain_id, name);
        if found.is_none() {
            let known = known_symbols(network.chain_id);
            f.error(
                symbol.span(),
                format!(
                    "asset `{name}` is not known on {network}: expected one of [{}] or a token defined under `[assets.{name}]` with `network = \"{network}\"`",
                    known.join(", ")
                ),
            );
        }
        found
    }
}

/// Two networks of different classes (mainnet / testnet / unclassified), if the list mixes them.
fn mixed_pair(networks: &[Network]) -> Option<(&Network, &Network)> {
    let first = networks.first()?;
    networks
        .iter()
        .find(|n| n.class() != first.class())
        .map(|n| (first, n))
}

fn mixed_message(a: &Network, b: &Network, whose: &str) -> String {
    format!(
        "{whose} offers {a} ({}) and {b} ({}) at the same price: a payment on a testnet, whose tokens are free, would buy what the mainnet price sells. Give them separate routes, or set `allow_mixed_networks = true` if this is intended",
        a.class(),
        b.class()
    )
}

/// A recipient as resolved for one option; `written` means an invalid one was already reported.
struct PayTo {
    address: Option<String>,
    written: bool,
}

fn amount(price: &Spanned<PriceToml>, asset: &Asset, f: &mut Findings<'_>) -> Option<u128> {
    let result = match price.get_ref() {
        PriceToml::Atomic(0) => {
            Err("a price of 0 atomic units is free: write `price = \"free\"`".to_string())
        }
        PriceToml::Atomic(n) => Ok(u128::from(*n)),
        PriceToml::Text(text) => match parse_price_text(text) {
            Err(e) => Err(e),
            Ok(PriceText::Free) => Err("`free` cannot be the price of a payment option".into()),
            Ok(PriceText::Atomic(n)) => Ok(n),
            Ok(PriceText::Usd(dec)) if asset.usd => to_atomic(&dec, asset.decimals),
            Ok(PriceText::Usd(_)) => Err(format!(
                "a `$` price needs a USD stablecoin, but `{}` is not one: write the price as `\"<amount> {}\"`",
                asset.symbol, asset.symbol
            )),
            Ok(PriceText::Token { amount, symbol })
                if symbol.eq_ignore_ascii_case(&asset.symbol) =>
            {
                to_atomic(&amount, asset.decimals)
            }
            Ok(PriceText::Token { symbol, .. }) => Err(format!(
                "the price is in `{symbol}` but this option's asset is `{}`",
                asset.symbol
            )),
        },
    };
    result.map_err(|e| f.error(price.span(), e)).ok()
}

/// Parses a network, reporting at its span.
pub fn network(text: &Spanned<String>, f: &mut Findings<'_>) -> Option<Network> {
    Network::parse(text.get_ref())
        .map_err(|e| f.error(text.span(), e))
        .ok()
}

/// Validates an EVM address and returns it EIP-55 checksummed. Mixed case must be a valid checksum.
pub fn pay_to_address(text: &Spanned<String>, f: &mut Findings<'_>) -> Option<String> {
    let s = text.get_ref().trim();
    let hex = s.strip_prefix("0x").unwrap_or("");
    let parsed = if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Err(format!(
            "`{s}` is not an EVM address: expected 0x followed by 40 hex digits"
        ))
    } else if hex.bytes().any(|b| b.is_ascii_lowercase())
        && hex.bytes().any(|b| b.is_ascii_uppercase())
    {
        Address::parse_checksummed(s, None)
            .map_err(|_| format!("`{s}` has a wrong EIP-55 checksum: check the address for a typo"))
    } else {
        s.parse::<Address>().map_err(|e| e.to_string())
    };
    match parsed {
        Ok(a) if a == Address::ZERO => {
            f.error(text.span(), "the zero address cannot receive payments");
            None
        }
        Ok(a) => Some(a.to_checksum(None)),
        Err(e) => {
            f.error(text.span(), e);
            None
        }
    }
}

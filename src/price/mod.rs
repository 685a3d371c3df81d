//! What a route costs: amounts in atomic units of a specific asset on a specific network.
//!
//! Knows nothing of HTTP or routes; `config/compile.rs` builds [`PaymentOption`]s from the file.

mod amount;
mod assets;
mod network;

pub use amount::{PriceText, format_atomic, parse_price_text, to_atomic};
pub use assets::{Asset, known_asset, known_symbols};
pub use network::Network;

/// One way to pay for a route: scheme `exact` on an EVM network, in one asset, to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOption {
    /// The network the payment is made on.
    pub network: Network,
    /// The token paid in.
    pub asset: Asset,
    /// Recipient, EIP-55 checksummed.
    pub pay_to: String,
    /// Amount in atomic units of `asset`.
    pub amount_atomic: u128,
    /// How long a signed authorization may take to arrive (`maxTimeoutSeconds`).
    pub max_timeout_secs: u64,
    /// Under `settle = "background"`: the most one payer may owe in unsettled payments of this
    /// asset, in atomic units, before the route settles their payments as `after`.
    pub max_unsettled_atomic: u128,
}

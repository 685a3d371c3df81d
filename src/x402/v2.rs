//! x402 protocol v2 wire types: `PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE` (spec §4).
//!
//! Requirements keep the key order the official server emits (`scheme, network, amount, asset, payTo,
//! maxTimeoutSeconds, extra`) so our 402s look like theirs byte for byte.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One payment requirement (an entry of `accepts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    pub scheme: String,
    pub network: String,
    pub amount: String,
    pub asset: String,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `resource` of a v2 `PaymentRequired`. `url` is serialized last, so that everything before it is
/// the same for every request to a route and can be encoded once (`challenge.rs`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo<'a> {
    pub description: &'a str,
    pub mime_type: &'a str,
    pub url: &'a str,
}

/// The object carried base64-encoded in the `PAYMENT-REQUIRED` header. Key order carries no meaning
/// in JSON; what varies per request (`resource.url`, `error`, `extensions`) comes after what does
/// not, so the constant part is encoded once (`challenge.rs`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired<'a> {
    pub x402_version: u8,
    /// Precomputed JSON array of [`PaymentRequirements`].
    pub accepts: &'a RawValue,
    /// Before `resource`: their constant parts (schemas) belong in the prefix encoded once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<&'a serde_json::Value>,
    pub resource: ResourceInfo<'a>,
    pub error: &'a str,
}

/// The typed view of a v2 `PAYMENT-SIGNATURE` payload; the raw JSON is kept beside it for the facilitator.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    pub x402_version: u8,
    /// The requirement the client chose, echoed verbatim.
    pub accepted: serde_json::Value,
    /// Scheme-specific payload (`{signature, authorization}` for EVM exact).
    pub payload: serde_json::Value,
}

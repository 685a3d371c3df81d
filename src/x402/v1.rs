//! x402 protocol v1 wire types: the JSON 402 body and `X-PAYMENT` (spec §3).
//!
//! Legacy clients validate every `accepts` entry with zod, so every field they require is always
//! present (`description` and `mimeType` may be empty) and `network` is a v1 name, never CAIP-2.

use serde::{Deserialize, Serialize};

/// One v1 payment requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    pub scheme: String,
    pub network: String,
    pub max_amount_required: String,
    pub resource: String,
    pub description: String,
    pub mime_type: String,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    pub asset: String,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The JSON body of a 402 (`PaymentRequirementsResponse`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired<'a> {
    pub x402_version: u8,
    pub error: &'a str,
    pub accepts: Vec<PaymentRequirements>,
}

/// The typed view of a v1 `X-PAYMENT` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    pub x402_version: u8,
    pub scheme: String,
    pub network: String,
    pub payload: serde_json::Value,
}

//! The typed payment that verification and settlement take ([`Payment`]), the facilitator
//! messages it becomes for the facilitator adapter (spec §7), and the `PAYMENT-RESPONSE` /
//! `X-PAYMENT-RESPONSE` header.
//!
//! Unknown fields are tolerated on input; reasons are opaque strings except `settlement_pending`.

use serde::{Deserialize, Serialize};

use super::{Version, encode_header};

/// The reason a facilitator gives while a broadcast transaction awaits its receipt (spec §5.4).
pub const SETTLEMENT_PENDING: &str = "settlement_pending";

/// One accepted `exact` EVM payment, as verifiers and settlers see it: the authorization decoded
/// once with its signature, the token and network it pays in, and the client's wire form (which a
/// facilitator must receive exactly as sent).
#[derive(Debug, Clone, Copy)]
pub struct Payment<'a> {
    pub version: Version,
    /// CAIP-2 network.
    pub network: &'a str,
    pub token: alloy_primitives::Address,
    pub auth: &'a crate::evm::ExactAuthorization,
    /// The payment payload exactly as the client sent it.
    pub payload: &'a serde_json::Value,
    /// The requirement it answered, in the payload's protocol version.
    pub requirements: &'a serde_json::Value,
}

impl<'a> Payment<'a> {
    /// The facilitator's request body for this payment.
    pub fn facilitator_request(&self) -> FacilitatorRequest<'a> {
        FacilitatorRequest {
            x402_version: self.version.number(),
            payment_payload: self.payload,
            payment_requirements: self.requirements,
        }
    }
}

/// Body of `POST /verify` and `POST /settle`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest<'a> {
    pub x402_version: u8,
    pub payment_payload: &'a serde_json::Value,
    pub payment_requirements: &'a serde_json::Value,
}

/// Answer of `POST /verify`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub is_valid: bool,
    #[serde(default)]
    pub invalid_reason: Option<String>,
    #[serde(default)]
    pub invalid_message: Option<String>,
    #[serde(default)]
    pub payer: Option<String>,
}

/// Answer of `POST /settle`, and the content of `PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    #[serde(default)]
    pub transaction: String,
    #[serde(default)]
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

impl SettleResponse {
    /// A failure the gateway itself reports (no transaction).
    pub fn failure(reason: &str, message: Option<String>, network: &str, payer: &str) -> Self {
        Self {
            success: false,
            error_reason: Some(reason.to_string()),
            error_message: message,
            payer: Some(payer.to_string()),
            transaction: String::new(),
            network: network.to_string(),
            amount: None,
        }
    }

    /// Whether the facilitator says the transaction is broadcast but not yet confirmed.
    pub fn is_pending(&self) -> bool {
        !self.success && self.error_reason.as_deref() == Some(SETTLEMENT_PENDING)
    }

    /// The response header (name, base64 value) for a payment of this protocol version.
    pub fn header(&self, version: Version) -> (&'static str, String) {
        let name = match version {
            Version::V1 => "X-PAYMENT-RESPONSE",
            Version::V2 => "PAYMENT-RESPONSE",
        };
        (name, encode_header(self))
    }
}

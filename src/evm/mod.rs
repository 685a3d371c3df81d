//! EVM `exact` (EIP-3009 `transferWithAuthorization`): the authorization both protocol versions carry.
//!
//! v1 and v2 payloads converge on [`ExactAuthorization`]; [`exact::check`] runs the local checks
//! (signature, recipient, time window, amount) before anything costs a network round trip.

pub mod batch;
pub mod chain;
pub mod eip712;
pub mod exact;
pub mod nonces;
pub mod settle;

use alloy_primitives::{Address, B256, U256};
use serde::Deserialize;

/// The signed EIP-3009 authorization of an `exact` payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactAuthorization {
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub valid_after: u64,
    pub valid_before: u64,
    pub nonce: B256,
    /// The signature bytes: 65 for an EOA (`r‖s‖v`), longer for smart wallets.
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationJson {
    from: String,
    to: String,
    value: String,
    valid_after: String,
    valid_before: String,
    nonce: String,
}

#[derive(Deserialize)]
struct ExactPayloadJson {
    authorization: AuthorizationJson,
    signature: String,
}

/// Why an `exact` payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed exact payload: {0}")]
pub struct MalformedPayload(pub String);

impl ExactAuthorization {
    /// Reads `{authorization, signature}` from a scheme payload. All numbers are decimal strings,
    /// the nonce is `0x` + 64 hex digits (spec §2, §3.3).
    pub fn from_payload(payload: &serde_json::Value) -> Result<Self, MalformedPayload> {
        let p =
            ExactPayloadJson::deserialize(payload).map_err(|e| MalformedPayload(e.to_string()))?;
        let signature = p
            .signature
            .strip_prefix("0x")
            .filter(|h| h.len() >= 2)
            .and_then(|h| alloy_primitives::hex::decode(h).ok())
            .ok_or_else(|| MalformedPayload("signature is not 0x-prefixed hex".into()))?;
        let a = p.authorization;
        let address = |field: &str, s: &str| {
            s.parse::<Address>()
                .map_err(|_| MalformedPayload(format!("authorization.{field} is not an address")))
        };
        let number = |field: &str, s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MalformedPayload(format!(
                    "authorization.{field} is not a decimal integer string"
                )));
            }
            s.parse::<u64>()
                .map_err(|_| MalformedPayload(format!("authorization.{field} is out of range")))
        };
        let nonce_ok = a.nonce.len() == 66
            && a.nonce.starts_with("0x")
            && a.nonce[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !nonce_ok {
            return Err(MalformedPayload(
                "authorization.nonce is not 0x + 64 hex digits".into(),
            ));
        }
        let value_ok = !a.value.is_empty() && a.value.bytes().all(|b| b.is_ascii_digit());
        Ok(Self {
            from: address("from", &a.from)?,
            to: address("to", &a.to)?,
            value: value_ok
                .then(|| U256::from_str_radix(&a.value, 10).ok())
                .flatten()
                .ok_or_else(|| {
                    MalformedPayload("authorization.value is not a decimal integer string".into())
                })?,
            valid_after: number("validAfter", &a.valid_after)?,
            valid_before: number("validBefore", &a.valid_before)?,
            nonce: a
                .nonce
                .parse::<B256>()
                .map_err(|_| MalformedPayload("authorization.nonce is not hex".into()))?,
            signature,
        })
    }
}

/// The 4-byte ABI selector of a function signature (`balanceOf(address)`).
pub(crate) fn selector(signature: &str) -> [u8; 4] {
    let h = alloy_primitives::keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// `bytes` right-aligned in a 32-byte ABI word (addresses, small integers).
pub(crate) fn abi_word(bytes: &[u8]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[32 - bytes.len()..].copy_from_slice(bytes);
    w
}

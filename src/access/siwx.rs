//! Sign-In-With-X for EVM wallets (the `sign-in-with-x` extension; CAIP-122 / EIP-4361 messages
//! signed with EIP-191): the nonce the 402 offers, the message a wallet signs, and its checks.
//!
//! The nonce is stateless: 8 unique bytes and 8 bytes of HMAC over them, the `issuedAt` the 402
//! names and the resource URL, so the 402 stays precomputed (only these fields are filled in)
//! and a nonce cannot be moved to another resource or another time. It is single use once
//! redeemed (the caller keeps redeemed nonces until they would have expired anyway).

use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::{Address, Signature};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use super::Keyring;
use crate::clock::UnixSecs;
use crate::rfc3339::parse_rfc3339_ms;

/// The request header that carries a sign-in.
pub const HEADER: &str = "sign-in-with-x";
/// The extension's key in `extensions`.
pub const EXTENSION: &str = "sign-in-with-x";
/// Largest `SIGN-IN-WITH-X` header accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// How far a client clock may run ahead of ours.
const SKEW_SECS: u64 = 30;

/// The `SIGN-IN-WITH-X` header: the 402's `info`, echoed, with the wallet's address and
/// signature.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub domain: String,
    pub address: String,
    #[serde(default)]
    pub statement: Option<String>,
    pub uri: String,
    pub version: String,
    pub chain_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub nonce: String,
    pub issued_at: String,
    #[serde(default)]
    pub expiration_time: Option<String>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    pub signature: String,
}

/// Why a sign-in was refused: `reason` follows the official extension's strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the SIGN-IN-WITH-X header is not base64 JSON of a sign-in message")]
    Malformed,
    #[error("the message is for another domain")]
    DomainMismatch,
    #[error("the message is for another resource")]
    UriMismatch,
    #[error("only EIP-191 sign-in on a chain this route is paid on is accepted")]
    UnsupportedChain,
    #[error("the message is older than the sign-in window, or dated in the future")]
    IssuedAt,
    #[error("the message has expired")]
    Expired,
    #[error("the message is not valid yet")]
    NotYetValid,
    #[error("the nonce was not issued by this gateway for this resource and time")]
    Nonce,
    #[error("the nonce was used already")]
    NonceUsed,
    #[error("the signature is not the wallet's")]
    Signature,
    #[error("this wallet has not paid for this resource within the sign-in window")]
    NotPaid,
    #[error("sign-in cannot be checked right now")]
    Unavailable,
}

impl SignInError {
    /// The 402's reason and the metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "invalid_siwx_payload",
            Self::DomainMismatch => "invalid_siwx_domain_mismatch",
            Self::UriMismatch => "invalid_siwx_uri_mismatch",
            Self::UnsupportedChain => "invalid_siwx_unsupported_chain",
            Self::IssuedAt => "invalid_siwx_issued_at",
            Self::Expired => "invalid_siwx_expired",
            Self::NotYetValid => "invalid_siwx_not_yet_valid",
            Self::Nonce => "invalid_siwx_nonce",
            Self::NonceUsed => "invalid_siwx_nonce_used",
            Self::Signature => "invalid_siwx_signature",
            Self::NotPaid => "siwx_not_paid",
            Self::Unavailable => "siwx_unavailable",
        }
    }
}

/// Mints and checks nonces under the gateway's key.
#[derive(Debug)]
pub struct Nonces {
    keys: Keyring,
    /// Random at start; with `minted`, the nonces' first half: unique per 402 without a system
    /// call per 402 (uniqueness is what a nonce needs here: the tag makes it unforgeable).
    salt: u64,
    minted: AtomicU64,
}

impl Nonces {
    pub fn new(keys: Keyring) -> Self {
        let mut salt = [0u8; 8];
        // Linux's random source does not fail; a zero salt still gives unique, tagged nonces.
        let _ = SystemRandom::new().fill(&mut salt);
        Self {
            keys,
            salt: u64::from_be_bytes(salt),
            minted: AtomicU64::new(0),
        }
    }

    /// A fresh nonce (32 hex digits) for `resource` offered at `issued_at` (its ISO form).
    pub fn mint(&self, issued_at: &str, resource: &str) -> String {
        let mut nonce = [0u8; 16];
        let n = self.minted.fetch_add(1, Ordering::Relaxed);
        nonce[..8].copy_from_slice(&(self.salt ^ n).to_be_bytes());
        let tag = tag(self.keys.signer().1, &nonce[..8], issued_at, resource);
        nonce[8..].copy_from_slice(&tag);
        alloy_primitives::hex::encode(nonce)
    }

    /// Whether `nonce` was minted here (under any listed key) for `resource` at `issued_at`.
    pub fn check(&self, nonce: &str, issued_at: &str, resource: &str) -> bool {
        let mut raw = [0u8; 16];
        if nonce.len() != 32 || alloy_primitives::hex::decode_to_slice(nonce, &mut raw).is_err() {
            return false;
        }
        // Both halves are public; a timing difference reveals nothing the nonce does not.
        self.keys
            .all()
            .any(|key| tag(key, &raw[..8], issued_at, resource) == raw[8..])
    }
}

/// 8 bytes of HMAC over a nonce's random half, its `issuedAt` and its resource.
fn tag(key: &hmac::Key, prefix: &[u8], issued_at: &str, resource: &str) -> [u8; 8] {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"x402-siwx-nonce.v1\0");
    ctx.update(prefix);
    ctx.update(issued_at.as_bytes());
    ctx.update(b"\0");
    ctx.update(resource.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&ctx.sign().as_ref()[..8]);
    out
}

/// The JSON schema the official extension advertises with its `info`.
pub fn schema() -> serde_json::Value {
    let text = || serde_json::json!({"type": "string"});
    let uri = || serde_json::json!({"type": "string", "format": "uri"});
    let time = || serde_json::json!({"type": "string", "format": "date-time"});
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "domain": text(), "address": text(), "statement": text(), "uri": uri(),
            "version": text(), "chainId": text(), "type": text(), "nonce": text(),
            "issuedAt": time(), "expirationTime": time(), "notBefore": time(),
            "requestId": text(), "resources": {"type": "array", "items": uri()},
            "signature": text()
        },
        "required": ["domain", "address", "uri", "version", "chainId", "type", "nonce", "issuedAt", "signature"]
    })
}

/// An RFC 3339 time in whole seconds.
fn secs(text: &str) -> Option<u64> {
    parse_rfc3339_ms(text).map(|ms| ms / 1000)
}

/// Decodes the header (base64 JSON).
pub fn decode(header: &[u8]) -> Result<SignIn, SignInError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(SignInError::Malformed);
    }
    let json = STANDARD
        .decode(header.trim_ascii())
        .map_err(|_| SignInError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| SignInError::Malformed)
}

/// What a sign-in is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// `host[:port]` of the public URL.
    pub domain: &'a str,
    /// The resource URL the 402 named.
    pub resource: &'a str,
    /// CAIP-2 networks the route is paid on.
    pub chains: &'a [String],
    /// How long after `issuedAt` a message is accepted.
    pub max_age_secs: u64,
    pub now: UnixSecs,
}

/// Every stateless check, in order: form, domain, uri, chain, time, nonce, signature. Returns
/// the signer and the second after which its nonce can no longer be redeemed.
pub fn verify(
    nonces: &Nonces,
    s: &SignIn,
    expect: &Expect<'_>,
) -> Result<(Address, UnixSecs), SignInError> {
    if s.version != "1" {
        return Err(SignInError::Malformed);
    }
    if !s.domain.eq_ignore_ascii_case(expect.domain) {
        return Err(SignInError::DomainMismatch);
    }
    if s.uri != expect.resource {
        return Err(SignInError::UriMismatch);
    }
    if s.kind != "eip191" || !expect.chains.contains(&s.chain_id) {
        return Err(SignInError::UnsupportedChain);
    }
    let issued = secs(&s.issued_at).ok_or(SignInError::IssuedAt)?;
    if issued > expect.now + SKEW_SECS {
        return Err(SignInError::IssuedAt);
    }
    if let Some(exp) = &s.expiration_time {
        let exp = secs(exp).ok_or(SignInError::Expired)?;
        if exp <= expect.now {
            return Err(SignInError::Expired);
        }
    }
    if expect.now > issued + expect.max_age_secs {
        return Err(SignInError::Expired);
    }
    if let Some(nbf) = &s.not_before {
        let nbf = secs(nbf).ok_or(SignInError::NotYetValid)?;
        if nbf > expect.now + SKEW_SECS {
            return Err(SignInError::NotYetValid);
        }
    }
    if !nonces.check(&s.nonce, &s.issued_at, expect.resource) {
        return Err(SignInError::Nonce);
    }
    let address: Address = s.address.parse().map_err(|_| SignInError::Malformed)?;
    let message = message(s).ok_or(SignInError::Malformed)?;
    let signer = recover(&message, &s.signature).ok_or(SignInError::Signature)?;
    if signer != address {
        return Err(SignInError::Signature);
    }
    Ok((address, issued + expect.max_age_secs + SKEW_SECS))
}

/// The EIP-4361 text the wallet signed (as `@signinwithethereum/siwe` writes it), or `None`
/// for a chain id that is not `eip155:<number>`.
pub fn message(s: &SignIn) -> Option<String> {
    let chain: u64 = s.chain_id.strip_prefix("eip155:")?.parse().ok()?;
    let mut m = format!(
        "{} wants you to sign in with your Ethereum account:\n{}\n\n",
        s.domain, s.address
    );
    match &s.statement {
        Some(statement) => {
            m.push_str(statement);
            m.push_str("\n\n");
        }
        None => m.push('\n'),
    }
    m.push_str(&format!(
        "URI: {}\nVersion: {}\nChain ID: {chain}\nNonce: {}\nIssued At: {}",
        s.uri, s.version, s.nonce, s.issued_at
    ));
    if let Some(v) = &s.expiration_time {
        m.push_str(&format!("\nExpiration Time: {v}"));
    }
    if let Some(v) = &s.not_before {
        m.push_str(&format!("\nNot Before: {v}"));
    }
    if let Some(v) = &s.request_id {
        m.push_str(&format!("\nRequest ID: {v}"));
    }
    if let Some(resources) = &s.resources {
        m.push_str("\nResources:");
        for r in resources {
            m.push_str(&format!("\n- {r}"));
        }
    }
    Some(m)
}

/// The EOA that signed `message` (EIP-191), from a 65-byte hex signature (low `s` only).
/// Smart-wallet signatures (ERC-1271, ERC-6492) are not accepted for sign-in.
fn recover(message: &str, signature: &str) -> Option<Address> {
    let hex = signature.strip_prefix("0x").unwrap_or(signature);
    let mut raw = [0u8; 65];
    alloy_primitives::hex::decode_to_slice(hex, &mut raw).ok()?;
    let sig = Signature::from_raw_array(&raw).ok()?;
    if sig.s() > crate::evm::eip712::HALF_ORDER {
        return None;
    }
    sig.recover_address_from_msg(message.as_bytes()).ok()
}

#[cfg(test)]
mod tests;

//! Access passes: a compact token the gateway signs after a payment, good for a number of uses
//! until it expires, within one host + path scope.
//!
//! Wire form: `<key id>.<claims>.<tag>`, base64url without padding. The claims are 57 bytes:
//! version (1), pass id (16: the digest of the payment that bought it, so a failed background
//! settlement revokes its pass by the payment's id), expiry (8, Unix seconds), uses (4), payer
//! (20), scope id (8). The tag is HMAC-SHA256 over `x402-pass.v1.<key id>.` and the claims.
//! Checking one is stateless (about a microsecond); only the use counter is state
//! (`store::AccessState`).

use alloy_primitives::Address;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::Keyring;
use crate::clock::UnixSecs;

/// The request and response header that carries a pass (for agents).
pub const HEADER: &str = "x402-pass";
/// The cookie that carries a pass (for browsers).
pub const COOKIE: &str = "x402-pass";

const VERSION: u8 = 1;
const CLAIMS_LEN: usize = 57;
/// Longest token accepted: a 32-byte id, the claims, the tag, two dots.
pub const MAX_TOKEN_LEN: usize = 32 + 1 + 76 + 1 + 43;

/// What a pass grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassClaims {
    /// The pass's id: the digest of the payment that bought it.
    pub id: [u8; 16],
    pub expires_at: UnixSecs,
    /// Requests it may be used for.
    pub uses: u32,
    pub payer: Address,
    /// Which `host + path` scope it opens ([`scope_id`]).
    pub scope: u64,
}

/// Why a pass was refused; `label` is the metric label and the 402's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("the pass is not a well-formed token")]
    Malformed,
    #[error("the pass was signed with a key that is retired or unknown")]
    RetiredKey,
    #[error("the pass's signature does not match (tampered)")]
    Tampered,
    #[error("the pass has expired")]
    Expired,
    #[error("the pass is for another host or path")]
    OutOfScope,
    #[error("the pass has no uses left")]
    Exhausted,
    #[error("the pass was revoked: the payment that bought it did not settle")]
    Revoked,
    #[error("the pass could not be checked right now")]
    Unavailable,
}

impl PassError {
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "pass_malformed",
            Self::RetiredKey => "pass_retired_key",
            Self::Tampered => "pass_tampered",
            Self::Expired => "pass_expired",
            Self::OutOfScope => "pass_out_of_scope",
            Self::Exhausted => "pass_exhausted",
            Self::Revoked => "pass_revoked",
            Self::Unavailable => "pass_unavailable",
        }
    }
}

/// The id of a `host + path pattern` scope: 8 bytes of SHA-256, so a pass names its scope in
/// fixed size and a renamed scope no longer opens.
pub fn scope_id(host: &str, pattern: &str) -> u64 {
    let mut input = Vec::with_capacity(host.len() + pattern.len() + 1);
    input.extend_from_slice(host.to_ascii_lowercase().as_bytes());
    input.push(0);
    input.extend_from_slice(pattern.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(id)
}

/// Signs a pass with the keyring's signing key.
pub fn issue(keys: &Keyring, claims: &PassClaims) -> String {
    let (id, key) = keys.signer();
    let mut raw = [0u8; CLAIMS_LEN];
    raw[0] = VERSION;
    raw[1..17].copy_from_slice(&claims.id);
    raw[17..25].copy_from_slice(&claims.expires_at.to_be_bytes());
    raw[25..29].copy_from_slice(&claims.uses.to_be_bytes());
    raw[29..49].copy_from_slice(claims.payer.as_slice());
    raw[49..57].copy_from_slice(&claims.scope.to_be_bytes());
    let tag = hmac::sign(key, &signed_bytes(id, &raw));
    let mut out = String::with_capacity(MAX_TOKEN_LEN);
    out.push_str(id);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(raw, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
    out
}

/// Checks a token's form, key, tag and expiry (not its scope or uses: the caller knows those).
pub fn verify(keys: &Keyring, token: &str, now: UnixSecs) -> Result<PassClaims, PassError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(PassError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(kid), Some(claims), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PassError::Malformed);
    };
    let mut raw = [0u8; CLAIMS_LEN];
    match URL_SAFE_NO_PAD.decode_slice(claims, &mut raw) {
        Ok(CLAIMS_LEN) => {}
        _ => return Err(PassError::Malformed),
    }
    let mut mac = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(tag, &mut mac) {
        Ok(32) => {}
        _ => return Err(PassError::Malformed),
    }
    let key = keys.get(kid).ok_or(PassError::RetiredKey)?;
    hmac::verify(key, &signed_bytes(kid, &raw), &mac).map_err(|_| PassError::Tampered)?;
    if raw[0] != VERSION {
        return Err(PassError::Malformed);
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[at..at + 8]);
        u64::from_be_bytes(b)
    };
    let mut id = [0u8; 16];
    id.copy_from_slice(&raw[1..17]);
    let claims = PassClaims {
        id,
        expires_at: u64_at(17),
        uses: u32::from_be_bytes([raw[25], raw[26], raw[27], raw[28]]),
        payer: Address::from_slice(&raw[29..49]),
        scope: u64_at(49),
    };
    if claims.expires_at <= now {
        return Err(PassError::Expired);
    }
    Ok(claims)
}

fn signed_bytes(kid: &str, raw: &[u8; CLAIMS_LEN]) -> Vec<u8> {
    let mut input = Vec::with_capacity(16 + kid.len() + CLAIMS_LEN);
    input.extend_from_slice(b"x402-pass.v1.");
    input.extend_from_slice(kid.as_bytes());
    input.push(b'.');
    input.extend_from_slice(raw);
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "0123456789abcdef0123456789abcdef";

    fn claims() -> PassClaims {
        PassClaims {
            id: [7; 16],
            expires_at: 1_000,
            uses: 100,
            payer: Address::repeat_byte(0xab),
            scope: scope_id("example.com", "/docs/**"),
        }
    }

    #[test]
    fn issued_pass_verifies_until_it_expires() {
        let keys = Keyring::parse(&format!("k1={S}")).unwrap();
        let token = issue(&keys, &claims());
        assert!(token.len() <= MAX_TOKEN_LEN, "{}", token.len());
        assert!(token.starts_with("k1."));
        assert_eq!(verify(&keys, &token, 999), Ok(claims()));
        assert_eq!(verify(&keys, &token, 1_000), Err(PassError::Expired));
    }

    #[test]
    fn tampering_anywhere_is_refused() {
        let keys = Keyring::parse(&format!("k1={S}")).unwrap();
        let token = issue(&keys, &claims());
        for i in 3..token.len() {
            let mut bytes = token.clone().into_bytes();
            if bytes[i] == b'.' {
                continue;
            }
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            let e = verify(&keys, &forged, 0).unwrap_err();
            assert!(
                matches!(e, PassError::Tampered | PassError::Malformed),
                "{i}: {e:?}"
            );
        }
        assert_eq!(verify(&keys, "", 0), Err(PassError::Malformed));
        assert_eq!(verify(&keys, "a.b.c.d", 0), Err(PassError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_passes_until_their_key_is_retired() {
        let old = Keyring::parse(&format!("k1={S}")).unwrap();
        let token = issue(&old, &claims());
        let rotated = Keyring::parse(&format!("k2={S}new,k1={S}")).unwrap();
        assert_eq!(verify(&rotated, &token, 0), Ok(claims()));
        assert!(issue(&rotated, &claims()).starts_with("k2."));
        let retired = Keyring::parse(&format!("k2={S}new")).unwrap();
        assert_eq!(verify(&retired, &token, 0), Err(PassError::RetiredKey));
        // Same id, other secret: the tag does not match.
        let stolen_id = Keyring::parse(&format!("k1={S}other")).unwrap();
        assert_eq!(verify(&stolen_id, &token, 0), Err(PassError::Tampered));
    }

    #[test]
    fn scope_ids_differ_by_host_and_pattern_not_host_case() {
        assert_eq!(scope_id("A.com", "/x/**"), scope_id("a.com", "/x/**"));
        assert_ne!(scope_id("a.com", "/x/**"), scope_id("b.com", "/x/**"));
        assert_ne!(scope_id("a.com", "/x/**"), scope_id("a.com", "/X/**"));
    }
}

//! Idempotent retries (the `payment-identifier` extension, spec table 4.8; fingerprint binding
//! as in x402 #2307): the id a client puts in its payment, and the fingerprint of the request it
//! paid for (method, URL and a digest of the body).

use ring::digest::{Context, SHA256};

/// The extension's key in `extensions`.
pub const EXTENSION: &str = "payment-identifier";
/// Largest request body fingerprinted (a larger one on such a route gets 413): it is held in
/// memory to be digested before anything is forwarded.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An id that is not 16-128 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the payment identifier must be 16-128 letters, digits, `_` or `-`")]
pub struct InvalidId;

/// The id at `extensions["payment-identifier"].info.id` of a payment payload, if any.
pub fn extract(payload: &serde_json::Value) -> Result<Option<&str>, InvalidId> {
    let Some(id) = payload
        .get("extensions")
        .and_then(|e| e.get(EXTENSION))
        .and_then(|e| e.get("info"))
        .and_then(|i| i.get("id"))
    else {
        return Ok(None);
    };
    let id = id.as_str().ok_or(InvalidId)?;
    let valid = (16..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid { Ok(Some(id)) } else { Err(InvalidId) }
}

/// SHA-256 over the method, the URL and the body's own SHA-256, each length-prefixed.
pub fn fingerprint(method: &str, url: &str, body: &[u8]) -> [u8; 32] {
    let body_digest = ring::digest::digest(&SHA256, body);
    let mut ctx = Context::new(&SHA256);
    for part in [method.as_bytes(), url.as_bytes(), body_digest.as_ref()] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The extension as the 402 advertises it (`info.required`, and the official schema).
pub fn advertised(required: bool) -> serde_json::Value {
    serde_json::json!({
        "info": { "required": required },
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "required": { "type": "boolean" },
                "id": { "type": "string", "minLength": 16, "maxLength": 128, "pattern": "^[a-zA-Z0-9_-]+$" }
            },
            "required": ["required"]
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn extracts_valid_ids_only() {
        let with = |id: serde_json::Value| json!({"extensions": {"payment-identifier": {"info": {"required": false, "id": id}}}});
        assert_eq!(extract(&json!({})), Ok(None));
        assert_eq!(
            extract(&with(json!("pay_0123456789abcdef"))),
            Ok(Some("pay_0123456789abcdef"))
        );
        assert_eq!(extract(&with(json!("short"))), Err(InvalidId));
        assert_eq!(
            extract(&with(json!("pay_0123456789abcdef!"))),
            Err(InvalidId)
        );
        assert_eq!(extract(&with(json!(12345678901234567u64))), Err(InvalidId));
        assert_eq!(extract(&with(json!("x".repeat(129)))), Err(InvalidId));
    }

    #[test]
    fn fingerprints_differ_by_method_url_and_body() {
        let a = fingerprint("POST", "http://h/a", b"{}");
        assert_eq!(a, fingerprint("POST", "http://h/a", b"{}"));
        assert_ne!(a, fingerprint("PUT", "http://h/a", b"{}"));
        assert_ne!(a, fingerprint("POST", "http://h/b", b"{}"));
        assert_ne!(a, fingerprint("POST", "http://h/a", b"{ }"));
        // Length prefixes: moving a byte between parts changes the fingerprint.
        assert_ne!(
            fingerprint("GE", "Thttp://h", b""),
            fingerprint("GET", "http://h", b"")
        );
    }
}

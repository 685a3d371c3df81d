//! The x402 wire protocol: payment header codecs, v1/v2 types, the 402 challenge and reasons.
//!
//! Pure protocol: no Pingora, no network. Decoding is lenient (standard or url-safe base64, with or
//! without padding, size-capped, spec §2); encoding is strict (standard base64 of compact JSON).

pub mod challenge;
pub mod reason;
pub mod settlement;
mod shared_json;
pub mod v1;
pub mod v2;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

pub use shared_json::SharedJson;

/// Request header carrying a v2 payment.
pub const PAYMENT_SIGNATURE: &str = "payment-signature";
/// Request header carrying a v1 payment.
pub const X_PAYMENT: &str = "x-payment";
/// Response header carrying the v2 challenge.
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";

/// A protocol generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// The number carried in `x402Version`.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// Label for logs and metrics (`v2-eip155-exact` style prefix).
    pub fn label(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// A decoded payment header.
#[derive(Debug, Clone)]
pub enum PaymentHeader {
    V1 {
        payload: v1::PaymentPayload,
        raw: SharedJson,
    },
    V2 {
        payload: v2::PaymentPayload,
        raw: SharedJson,
    },
}

impl PaymentHeader {
    pub fn version(&self) -> Version {
        match self {
            Self::V1 { .. } => Version::V1,
            Self::V2 { .. } => Version::V2,
        }
    }

    /// The payload exactly as the client sent it, for the facilitator.
    pub fn raw(&self) -> &SharedJson {
        match self {
            Self::V1 { raw, .. } | Self::V2 { raw, .. } => raw,
        }
    }

    /// The scheme-specific part (`{signature, authorization}` for EVM exact).
    pub fn scheme_payload(&self) -> &serde_json::Value {
        match self {
            Self::V1 { payload, .. } => &payload.payload,
            Self::V2 { payload, .. } => &payload.payload,
        }
    }
}

/// Why a payment header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("payment header is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("payment header is not base64: {0}")]
    Base64(String),
    #[error("payment header is not a JSON payment payload: {0}")]
    Json(String),
    #[error("x402Version {0} is not supported (expected 1 or 2)")]
    Version(String),
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a `PAYMENT-SIGNATURE` or `X-PAYMENT` value.
///
/// `expected` is the version the header name implies; the payload's own `x402Version` decides,
/// so a v1 payload sent in `PAYMENT-SIGNATURE` is still read as v1.
pub fn decode_payment_header(value: &[u8], max_len: usize) -> Result<PaymentHeader, HeaderError> {
    if value.len() > max_len {
        return Err(HeaderError::TooLarge {
            len: value.len(),
            max: max_len,
        });
    }
    let cleaned: Vec<u8> = value
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|&b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    let json = LENIENT
        .decode(&cleaned)
        .map_err(|e| HeaderError::Base64(e.to_string()))?;
    // Kept as sent (the ledger stores this text): JSON is UTF-8, so text that is not is no JSON.
    let text = std::str::from_utf8(&json).map_err(|e| HeaderError::Json(e.to_string()))?;
    let raw = SharedJson::parse(text).map_err(|e| HeaderError::Json(e.to_string()))?;
    let version = raw
        .get("x402Version")
        .ok_or_else(|| HeaderError::Json("missing x402Version".into()))?;
    match version.as_u64() {
        Some(1) => {
            let payload = v1::PaymentPayload::deserialize(&*raw)
                .map_err(|e| HeaderError::Json(e.to_string()))?;
            Ok(PaymentHeader::V1 { payload, raw })
        }
        Some(2) => {
            let payload = v2::PaymentPayload::deserialize(&*raw)
                .map_err(|e| HeaderError::Json(e.to_string()))?;
            Ok(PaymentHeader::V2 { payload, raw })
        }
        _ => Err(HeaderError::Version(version.to_string())),
    }
}

/// Standard base64 of compact JSON, as official servers emit (spec §2).
pub fn encode_header<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    base64::engine::general_purpose::STANDARD.encode(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const V2: &str =
        r#"{"x402Version":2,"accepted":{"scheme":"exact"},"payload":{"signature":"0x00"}}"#;

    #[test]
    fn decodes_standard_and_url_safe_base64() {
        let std = STANDARD.encode(V2);
        let url = URL_SAFE_NO_PAD.encode(V2);
        for text in [std.as_str(), url.as_str(), std.trim_end_matches('=')] {
            let h = decode_payment_header(text.as_bytes(), 8192).unwrap();
            assert_eq!(h.version(), Version::V2);
        }
    }

    #[test]
    fn payload_version_decides() {
        let v1 =
            STANDARD.encode(r#"{"x402Version":1,"scheme":"exact","network":"base","payload":{}}"#);
        assert_eq!(
            decode_payment_header(v1.as_bytes(), 8192)
                .unwrap()
                .version(),
            Version::V1
        );
    }

    /// SplitMix64: a tiny deterministic generator for garbage inputs.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn garbage_never_panics() {
        let mut s = 7;
        let pieces = [
            "{",
            "}",
            "\"x402Version\":",
            "1",
            "2",
            "\"accepted\":",
            "\"payload\":",
            "[",
            "]",
            ",",
            "null",
            "\"scheme\":\"exact\"",
            "\"network\":\"base\"",
            "\"\\u0000\"",
            "1e999",
            "-0",
            "\"",
        ];
        for _ in 0..20_000 {
            let len = (next(&mut s) % 40) as usize;
            let raw: Vec<u8> = (0..len).map(|_| next(&mut s) as u8).collect();
            let _ = decode_payment_header(&raw, 4096);
            let json: String = (0..len)
                .map(|_| pieces[(next(&mut s) % pieces.len() as u64) as usize])
                .collect();
            let b64 = STANDARD.encode(&json);
            if let Ok(h) = decode_payment_header(b64.as_bytes(), 4096) {
                let _ = crate::evm::ExactAuthorization::from_payload(h.scheme_payload());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Arbitrary bytes never panic the decoder; every header it accepts is re-read the same.
        #[test]
        fn decoder_never_panics_on_bytes(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode_payment_header(&raw, 256);
            let b64 = STANDARD.encode(&raw);
            if let Ok(h) = decode_payment_header(b64.as_bytes(), 4096) {
                let again = STANDARD.encode(serde_json::to_vec(&**h.raw()).unwrap());
                let h2 = decode_payment_header(again.as_bytes(), 4096).unwrap();
                proptest::prop_assert_eq!(&**h.raw(), &**h2.raw());
            }
        }

        /// Any JSON value (in either base64 alphabet, padded or not) decodes or errors; no panic.
        #[test]
        fn decoder_never_panics_on_json(json in "\\{(\"[a-zA-Z0-9]{1,12}\":(\"[^\"]{0,16}\"|[0-9]{1,3}|null|\\{\\}|\\[\\]),?){0,6}\\}") {
            for text in [STANDARD.encode(&json), URL_SAFE_NO_PAD.encode(&json)] {
                if let Ok(h) = decode_payment_header(text.as_bytes(), 4096) {
                    let _ = crate::evm::ExactAuthorization::from_payload(h.scheme_payload());
                }
            }
        }
    }

    #[test]
    fn rejects_bad_headers_with_reasons() {
        assert!(matches!(
            decode_payment_header(b"%%%", 8192),
            Err(HeaderError::Base64(_))
        ));
        let not_json = STANDARD.encode("hello");
        assert!(matches!(
            decode_payment_header(not_json.as_bytes(), 8192),
            Err(HeaderError::Json(_))
        ));
        let v3 = STANDARD.encode(r#"{"x402Version":3}"#);
        assert!(matches!(
            decode_payment_header(v3.as_bytes(), 8192),
            Err(HeaderError::Version(_))
        ));
        let missing = STANDARD.encode(r#"{"x402Version":2,"payload":{}}"#);
        assert!(matches!(
            decode_payment_header(missing.as_bytes(), 8192),
            Err(HeaderError::Json(_))
        ));
        assert!(matches!(
            decode_payment_header(&[b'A'; 100], 10),
            Err(HeaderError::TooLarge { len: 100, max: 10 })
        ));
    }
}

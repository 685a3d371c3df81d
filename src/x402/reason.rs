//! Why a request to a priced route was refused: one enum, each variant with its wire reason.
//!
//! `error` strings follow the official servers (spec §3.5, §8.4) where they have one, so clients and
//! dashboards that know those strings keep working; `proxy/respond.rs` turns a rejection into a response.

use super::HeaderError;
use super::challenge::{UNPAID_V1, UNPAID_V2};
use crate::evm::MalformedPayload;
use crate::evm::exact::ExactError;

/// A refused payment attempt.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Rejection {
    /// No payment header.
    #[error("payment required")]
    PaymentRequired,
    /// The header could not be decoded.
    #[error("{0}")]
    MalformedHeader(#[from] HeaderError),
    /// The payload names no requirement of this route.
    #[error("the payment matches none of this route's requirements")]
    NoMatchingRequirements,
    /// The scheme payload is not a readable `exact` authorization.
    #[error("{0}")]
    MalformedPayload(#[from] MalformedPayload),
    /// A local `exact` check failed.
    #[error("{0}")]
    Exact(#[from] ExactError),
    /// This payment (network, asset, payer, nonce) is in flight or was already used.
    #[error("this payment authorization was already used")]
    AlreadyUsed,
    /// A pass or a sign-in was presented and refused (and no payment was): its reason
    /// (`pass_expired`, `invalid_siwx_signature`, …).
    #[error("access refused: {0}")]
    Access(&'static str),
    /// The facilitator said the payment is invalid.
    #[error("the facilitator rejected the payment: {reason}")]
    Invalid {
        reason: String,
        message: Option<String>,
    },
}

impl Rejection {
    /// The `error` string of the 402 for a client of this generation.
    pub fn reason(&self, v1: bool) -> String {
        match self {
            Self::PaymentRequired if v1 => UNPAID_V1.into(),
            Self::PaymentRequired => UNPAID_V2.into(),
            Self::MalformedHeader(HeaderError::Version(_)) => "invalid_x402_version".into(),
            Self::MalformedHeader(_) | Self::MalformedPayload(_) => "invalid_payload".into(),
            Self::NoMatchingRequirements if v1 => {
                "Unable to find matching payment requirements".into()
            }
            Self::NoMatchingRequirements => "No matching payment requirements".into(),
            // The legacy v1 facilitator's name for the same failure (spec §5.3).
            Self::Exact(ExactError::InvalidSignature) if v1 => {
                "invalid_exact_evm_payload_signature".into()
            }
            Self::Exact(ExactError::InsufficientBalance) if v1 => "insufficient_funds".into(),
            Self::Exact(e) => e.reason().into(),
            Self::AlreadyUsed => "duplicate_settlement".into(),
            Self::Access(reason) => (*reason).into(),
            Self::Invalid { reason, .. } => reason.clone(),
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::PaymentRequired => "payment_required",
            Self::MalformedHeader(_) => "malformed_header",
            Self::NoMatchingRequirements => "no_matching_requirements",
            Self::MalformedPayload(_) => "malformed_payload",
            Self::Exact(_) => "local_check_failed",
            Self::AlreadyUsed => "replayed",
            Self::Access(reason) => reason,
            Self::Invalid { .. } => "facilitator_invalid",
        }
    }
}

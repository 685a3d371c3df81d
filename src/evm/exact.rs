//! The local checklist for an `exact` EVM payment, one named check per rule (STYLE habit 8).
//!
//! These run before the facilitator is asked, in the official facilitator's order (spec §5.3):
//! signature, recipient, `validBefore`, `validAfter`, value. So a forged 65-byte signature, a
//! wrong recipient, amount or window is rejected at the edge, with the reason the official
//! facilitator would give, and costs no remote call. Smart-wallet signatures, balance and nonce
//! state are the facilitator's job for now; single use is `store::ReplayGuard`'s.

use alloy_primitives::{Address, U256};

use super::ExactAuthorization;
use super::eip712::{DomainSeparator, SignatureVerdict, check_signature};
use crate::clock::UnixSecs;

/// Seconds an authorization must stay valid after it arrives, as the official facilitator requires.
pub const VALID_BEFORE_MARGIN_SECS: u64 = 6;

/// What the route asks for.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub pay_to: Address,
    pub amount: U256,
    /// The EIP-712 domain of the option's token on its chain.
    pub domain: DomainSeparator,
}

/// A failed local check, with the reason string official facilitators use (spec §5.3, §9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExactError {
    #[error("the signature was not made by the authorization's `from` over this token's domain")]
    InvalidSignature,
    #[error("the authorization's nonce was already used on chain")]
    NonceUsed,
    #[error("the payer's balance (less payments in flight) is below the value")]
    InsufficientBalance,
    #[error("the authorization pays {actual}, not the route's payTo {expected}")]
    RecipientMismatch { expected: Address, actual: Address },
    #[error("the authorization is for {actual} atomic units, the route costs {expected}")]
    AmountMismatch { expected: U256, actual: U256 },
    #[error("the authorization expired at {valid_before} (now {now}, {margin}s margin required)", margin = VALID_BEFORE_MARGIN_SECS)]
    Expired { valid_before: u64, now: u64 },
    #[error("the authorization is not valid before {valid_after} (now {now})")]
    NotYetValid { valid_after: u64, now: u64 },
}

impl ExactError {
    /// The machine-readable reason sent to the client.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSignature => "invalid_exact_evm_signature",
            Self::NonceUsed => "invalid_exact_evm_nonce_already_used",
            Self::InsufficientBalance => "invalid_exact_evm_insufficient_balance",
            Self::RecipientMismatch { .. } => "invalid_exact_evm_payload_recipient_mismatch",
            Self::AmountMismatch { .. } => "invalid_exact_evm_payload_authorization_value_mismatch",
            Self::Expired { .. } => "invalid_exact_evm_payload_authorization_valid_before",
            Self::NotYetValid { .. } => "invalid_exact_evm_payload_authorization_valid_after",
        }
    }
}

/// Runs every local check in order; the first failure is returned.
pub fn check(
    auth: &ExactAuthorization,
    expected: &Expected,
    now: UnixSecs,
) -> Result<(), ExactError> {
    check_signature_of(auth, expected)?;
    check_recipient(auth, expected)?;
    check_window(auth, now)?;
    check_amount(auth, expected)
}

/// A 65-byte signature was made by `from` over this option's domain; a smart wallet's longer
/// signature passes here and is judged by the facilitator.
pub fn check_signature_of(
    auth: &ExactAuthorization,
    expected: &Expected,
) -> Result<(), ExactError> {
    match check_signature(auth, &expected.domain) {
        SignatureVerdict::Valid | SignatureVerdict::NotEoa => Ok(()),
        SignatureVerdict::Invalid => Err(ExactError::InvalidSignature),
    }
}

/// The authorization pays the route's `payTo`.
pub fn check_recipient(auth: &ExactAuthorization, expected: &Expected) -> Result<(), ExactError> {
    if auth.to == expected.pay_to {
        Ok(())
    } else {
        Err(ExactError::RecipientMismatch {
            expected: expected.pay_to,
            actual: auth.to,
        })
    }
}

/// The authorization moves exactly the price (v2 rule; spec §4.1).
pub fn check_amount(auth: &ExactAuthorization, expected: &Expected) -> Result<(), ExactError> {
    if auth.value == expected.amount {
        Ok(())
    } else {
        Err(ExactError::AmountMismatch {
            expected: expected.amount,
            actual: auth.value,
        })
    }
}

/// `validAfter <= now` and `validBefore >= now + 6`.
pub fn check_window(auth: &ExactAuthorization, now: UnixSecs) -> Result<(), ExactError> {
    if auth.valid_before < now.saturating_add(VALID_BEFORE_MARGIN_SECS) {
        return Err(ExactError::Expired {
            valid_before: auth.valid_before,
            now,
        });
    }
    if auth.valid_after > now {
        return Err(ExactError::NotYetValid {
            valid_after: auth.valid_after,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{B256, address};

    const PAY_TO: Address = address!("0x209693Bc6afc0C5328bA36FaF03C514EF312287C");

    fn auth(now: u64) -> ExactAuthorization {
        ExactAuthorization {
            from: address!("0x857b06519E91e3A54538791bDbb0E22373e36b66"),
            to: PAY_TO,
            value: U256::from(1000),
            valid_after: now - 600,
            valid_before: now + 300,
            nonce: B256::repeat_byte(7),
            // Not a 65-byte EOA signature: left to the facilitator (eip712.rs tests signatures).
            signature: vec![0xab; 66],
        }
    }

    fn expected() -> Expected {
        Expected {
            pay_to: PAY_TO,
            amount: U256::from(1000),
            domain: DomainSeparator::new("USDC", "2", 84532, Address::repeat_byte(1)),
        }
    }

    #[test]
    fn a_good_authorization_passes() {
        assert_eq!(check(&auth(1_000_000), &expected(), 1_000_000), Ok(()));
    }

    #[test]
    fn recipient_and_amount_must_match() {
        let now = 1_000_000;
        let mut a = auth(now);
        a.to = Address::ZERO;
        assert_eq!(
            check(&a, &expected(), now).unwrap_err().reason(),
            "invalid_exact_evm_payload_recipient_mismatch"
        );
        let mut a = auth(now);
        a.value = U256::from(999);
        assert!(matches!(
            check(&a, &expected(), now),
            Err(ExactError::AmountMismatch { .. })
        ));
        a.value = U256::from(1001);
        assert!(matches!(
            check(&a, &expected(), now),
            Err(ExactError::AmountMismatch { .. })
        ));
    }

    #[test]
    fn valid_before_edge() {
        let now = 1_000_000;
        let mut a = auth(now);
        a.valid_before = now + VALID_BEFORE_MARGIN_SECS;
        assert_eq!(check_window(&a, now), Ok(()));
        a.valid_before = now + VALID_BEFORE_MARGIN_SECS - 1;
        assert!(matches!(
            check_window(&a, now),
            Err(ExactError::Expired { .. })
        ));
    }

    #[test]
    fn valid_after_edge() {
        let now = 1_000_000;
        let mut a = auth(now);
        a.valid_after = now;
        assert_eq!(check_window(&a, now), Ok(()));
        a.valid_after = now + 1;
        assert!(matches!(
            check_window(&a, now),
            Err(ExactError::NotYetValid { .. })
        ));
    }

    #[test]
    fn parses_payload_and_rejects_malformed() {
        let good = serde_json::json!({"signature":"0xabcd","authorization":{
            "from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "value":"1000","validAfter":"1","validBefore":"2",
            "nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}});
        let a = ExactAuthorization::from_payload(&good).unwrap();
        assert_eq!(a.value, U256::from(1000));
        for (field, bad) in [
            ("value", "-1"),
            ("value", "1e3"),
            ("nonce", "0x12"),
            ("from", "nope"),
            ("validBefore", ""),
        ] {
            let mut p = good.clone();
            p["authorization"][field] = serde_json::Value::String(bad.into());
            assert!(
                ExactAuthorization::from_payload(&p).is_err(),
                "{field}={bad}"
            );
        }
    }
}

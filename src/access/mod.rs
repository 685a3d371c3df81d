//! Access granted without a fresh payment: passes bought by an earlier payment (`pass`), sign-in
//! by a wallet that paid before (`siwx`), and idempotent retries (`payment_id`).
//!
//! The pure parts live here (tokens, messages, nonces, fingerprints); what must be remembered
//! (uses left, revoked passes, redeemed nonces, first outcomes) lives behind
//! [`crate::store::AccessState`], next to the replay set, so nodes can share it later. Knows
//! nothing of Pingora.

pub mod keys;
pub mod pass;
pub mod payment_id;
pub mod siwx;

pub use keys::Keyring;

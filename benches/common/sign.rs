//! Signs EIP-3009 authorizations in process (libsecp256k1), for the benches that need many
//! unique payments fast: the settlement bench, the background load bench and the signature
//! check bench. Each bench compiles its own copy and uses part of it.
#![allow(dead_code)]

use alloy_primitives::{Address, B256, U256, keccak256};
use secp256k1::{Message, SECP256K1, SecretKey};
use x402_gateway::evm::ExactAuthorization;
use x402_gateway::evm::eip712::DomainSeparator;

/// What each authorization pays.
pub struct Terms {
    pub token: Address,
    pub to: Address,
    pub value: U256,
    pub chain_id: u64,
    pub name: String,
    pub version: String,
}

/// `n` authorizations from `key` on `terms`, nonces `salt ‖ i`.
pub fn sign(key: &str, terms: &Terms, n: usize, salt: u8) -> Vec<ExactAuthorization> {
    let bytes = alloy_primitives::hex::decode(key.trim_start_matches("0x")).expect("hex key");
    let sk = SecretKey::from_byte_array(bytes.try_into().expect("32 bytes")).expect("key");
    let pk = sk.public_key(SECP256K1).serialize_uncompressed();
    let from = Address::from_slice(&keccak256(&pk[1..])[12..]);
    let domain = DomainSeparator::new(&terms.name, &terms.version, terms.chain_id, terms.token);
    (0..n)
        .map(|i| {
            let mut nonce = [0u8; 32];
            nonce[0] = salt;
            nonce[24..].copy_from_slice(&(i as u64).to_be_bytes());
            let mut auth = ExactAuthorization {
                from,
                to: terms.to,
                value: terms.value,
                valid_after: 0,
                valid_before: 4_000_000_000,
                nonce: B256::from(nonce),
                signature: Vec::new(),
            };
            let msg = Message::from_digest(domain.digest(&auth).0);
            let (id, rs) = SECP256K1
                .sign_ecdsa_recoverable(msg, &sk)
                .serialize_compact();
            auth.signature = rs.to_vec();
            auth.signature.push(27 + i32::from(id) as u8);
            auth
        })
        .collect()
}

/// The `{authorization, signature}` object of an `exact` payload.
pub fn exact_payload(auth: &ExactAuthorization) -> serde_json::Value {
    serde_json::json!({
        "authorization": {
            "from": auth.from.to_checksum(None),
            "to": auth.to.to_checksum(None),
            "value": auth.value.to_string(),
            "validAfter": auth.valid_after.to_string(),
            "validBefore": auth.valid_before.to_string(),
            "nonce": format!("{}", auth.nonce),
        },
        "signature": format!("0x{}", alloy_primitives::hex::encode(&auth.signature)),
    })
}

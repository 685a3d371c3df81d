//! The digest and the recovery, against keys signed with libsecp256k1 directly; parity with the
//! official clients' `signTypedData` is shown end to end (their payments pass this check).

use alloy_primitives::{Address, B256, U256, address, keccak256};
use secp256k1::{Message, SECP256K1, SecretKey};

use super::*;

const USDC: Address = address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e");

fn domain() -> DomainSeparator {
    DomainSeparator::new("USDC", "2", 84532, USDC)
}

fn key() -> (SecretKey, Address) {
    let sk = SecretKey::from_byte_array([7u8; 32]).unwrap();
    let pk = sk.public_key(SECP256K1).serialize_uncompressed();
    (sk, Address::from_slice(&keccak256(&pk[1..])[12..]))
}

fn auth(from: Address) -> ExactAuthorization {
    ExactAuthorization {
        from,
        to: address!("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"),
        value: U256::from(1000),
        valid_after: 0,
        valid_before: 2_000_000_000,
        nonce: B256::repeat_byte(9),
        signature: Vec::new(),
    }
}

/// `auth` signed by `sk` as r‖s‖v with v = 27/28.
fn signed(mut a: ExactAuthorization, sk: &SecretKey) -> ExactAuthorization {
    let msg = Message::from_digest(domain().digest(&a).0);
    let (id, rs) = SECP256K1
        .sign_ecdsa_recoverable(msg, sk)
        .serialize_compact();
    let mut sig = rs.to_vec();
    sig.push(27 + i32::from(id) as u8);
    a.signature = sig;
    a
}

#[test]
fn the_domain_separator_is_the_one_usdc_reports() {
    // `DOMAIN_SEPARATOR()` of Circle's FiatTokenV2_2 named "USDC", version "2", at the Base
    // Sepolia address on chain 84532 (the harness checks the same value against the contract).
    let by_hand = {
        let mut b = Vec::new();
        b.extend_from_slice(
            keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
                .as_slice(),
        );
        b.extend_from_slice(keccak256("USDC").as_slice());
        b.extend_from_slice(keccak256("2").as_slice());
        b.extend_from_slice(&U256::from(84532).to_be_bytes::<32>());
        b.extend_from_slice(&[0u8; 12]);
        b.extend_from_slice(USDC.as_slice());
        keccak256(b)
    };
    assert_eq!(domain().0, by_hand);
    assert_eq!(
        TRANSFER_TYPEHASH,
        keccak256(
            "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
        )
    );
}

#[test]
fn a_signature_by_from_is_valid_and_any_change_invalidates_it() {
    let (sk, from) = key();
    let good = signed(auth(from), &sk);
    assert_eq!(check_signature(&good, &domain()), SignatureVerdict::Valid);
    let mut tampered = good.clone();
    tampered.value = U256::from(1001);
    assert_eq!(
        check_signature(&tampered, &domain()),
        SignatureVerdict::Invalid
    );
    let mut other_from = good.clone();
    other_from.from = Address::repeat_byte(5);
    assert_eq!(
        check_signature(&other_from, &domain()),
        SignatureVerdict::Invalid
    );
    let other_chain = DomainSeparator::new("USDC", "2", 8453, USDC);
    assert_eq!(
        check_signature(&good, &other_chain),
        SignatureVerdict::Invalid
    );
}

#[test]
fn what_the_token_refuses_is_refused_and_smart_wallets_are_deferred() {
    let (sk, from) = key();
    let good = signed(auth(from), &sk);
    let mut v01 = good.clone();
    v01.signature[64] -= 27;
    assert_eq!(check_signature(&v01, &domain()), SignatureVerdict::Invalid);
    // the malleable twin (n - s, flipped parity) recovers the same key but the token refuses it
    let n = U256::from_be_bytes(alloy_primitives::hex!(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
    ));
    let s = U256::from_be_slice(&good.signature[32..64]);
    let mut high = good.clone();
    high.signature[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high.signature[64] = if good.signature[64] == 27 { 28 } else { 27 };
    assert_eq!(check_signature(&high, &domain()), SignatureVerdict::Invalid);
    let mut long = good.clone();
    long.signature.extend_from_slice(&[0u8; 32]);
    assert_eq!(check_signature(&long, &domain()), SignatureVerdict::NotEoa);
    let mut garbage = good;
    garbage.signature = vec![0u8; 65];
    garbage.signature[64] = 27;
    assert_eq!(
        check_signature(&garbage, &domain()),
        SignatureVerdict::Invalid
    );
}

//! The EIP-712 digest an `exact` payment signs (EIP-3009 `TransferWithAuthorization`, spec §5.1),
//! and the local signature check: recover the signer of a 65-byte EOA signature with
//! libsecp256k1 and compare it with `authorization.from`, with the rules USDC's own `ECRecover`
//! applies on chain (`v` is 27 or 28, `s` in the lower half of the curve order), so a signature
//! accepted here is one the token accepts. Longer signatures (ERC-1271 smart wallets, ERC-6492
//! wrappers) are not judged here: they go to the facilitator.

use alloy_primitives::{Address, B256, Signature, U256, keccak256};

use super::ExactAuthorization;

/// keccak256 of `EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`.
const DOMAIN_TYPEHASH: B256 =
    alloy_primitives::b256!("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");
/// keccak256 of `TransferWithAuthorization(address from,address to,uint256 value,uint256
/// validAfter,uint256 validBefore,bytes32 nonce)`.
const TRANSFER_TYPEHASH: B256 =
    alloy_primitives::b256!("7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");
/// Half the secp256k1 group order: a larger `s` is the malleable twin, refused on chain.
pub const HALF_ORDER: U256 = U256::from_be_bytes(alloy_primitives::hex!(
    "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
));

/// The EIP-712 domain of a token: computed once per payment option, at config load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainSeparator(pub B256);

impl DomainSeparator {
    /// `name` and `version` are the token's EIP-712 domain (`extra.name` / `extra.version`).
    pub fn new(name: &str, version: &str, chain_id: u64, verifying_contract: Address) -> Self {
        let mut buf = [0u8; 160];
        buf[..32].copy_from_slice(DOMAIN_TYPEHASH.as_slice());
        buf[32..64].copy_from_slice(keccak256(name.as_bytes()).as_slice());
        buf[64..96].copy_from_slice(keccak256(version.as_bytes()).as_slice());
        buf[96..128].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
        buf[140..160].copy_from_slice(verifying_contract.as_slice());
        Self(keccak256(buf))
    }

    /// The digest the payer signed for `auth`.
    pub fn digest(&self, auth: &ExactAuthorization) -> B256 {
        let mut s = [0u8; 224];
        s[..32].copy_from_slice(TRANSFER_TYPEHASH.as_slice());
        s[44..64].copy_from_slice(auth.from.as_slice());
        s[76..96].copy_from_slice(auth.to.as_slice());
        s[96..128].copy_from_slice(&auth.value.to_be_bytes::<32>());
        s[128..160].copy_from_slice(&U256::from(auth.valid_after).to_be_bytes::<32>());
        s[160..192].copy_from_slice(&U256::from(auth.valid_before).to_be_bytes::<32>());
        s[192..224].copy_from_slice(auth.nonce.as_slice());
        let mut m = [0u8; 66];
        m[..2].copy_from_slice(&[0x19, 0x01]);
        m[2..34].copy_from_slice(self.0.as_slice());
        m[34..66].copy_from_slice(keccak256(s).as_slice());
        keccak256(m)
    }
}

/// What the local signature check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVerdict {
    /// A 65-byte signature by `authorization.from`.
    Valid,
    /// Not a 65-byte EOA signature (a smart wallet's): the facilitator decides.
    NotEoa,
    /// A 65-byte signature that `from` did not make (or that the token would refuse).
    Invalid,
}

/// Checks `auth.signature` against the digest under `domain`.
pub fn check_signature(auth: &ExactAuthorization, domain: &DomainSeparator) -> SignatureVerdict {
    let Ok(raw) = <&[u8; 65]>::try_from(auth.signature.as_slice()) else {
        return SignatureVerdict::NotEoa;
    };
    if !matches!(raw[64], 27 | 28) {
        return SignatureVerdict::Invalid;
    }
    let Ok(sig) = Signature::from_raw_array(raw) else {
        return SignatureVerdict::Invalid;
    };
    if sig.s() > HALF_ORDER || sig.s().is_zero() || sig.r().is_zero() {
        return SignatureVerdict::Invalid;
    }
    match sig.recover_address_from_prehash(&domain.digest(auth)) {
        Ok(signer) if signer == auth.from => SignatureVerdict::Valid,
        _ => SignatureVerdict::Invalid,
    }
}

#[cfg(test)]
mod tests;

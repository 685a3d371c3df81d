//! Many authorizations in one transaction: Multicall3 `aggregate3` with `allowFailure` set on
//! every call, so one authorization that fails (spent by someone else, balance gone) never sinks
//! the batch.
//!
//! Why Multicall3 and not a batch contract of our own: it sits at the same address on Base, Base
//! Sepolia and nearly every EVM chain, is widely audited, and needs no deployment by the
//! operator. `transferWithAuthorization` may be submitted by anyone (the recipient is signed), so
//! Multicall3 being `msg.sender` changes nothing.
//!
//! Plan: 1. `eth_call` the batch to learn which calls would fail, and drop them (nothing is
//! spent on a call that cannot succeed); 2. send the rest as one transaction; 3. the receipt's
//! `AuthorizationUsed(authorizer, nonce)` logs say exactly which authorizations landed. A receipt
//! that does not come in time leaves every call of the batch unknown (the caller asks the chain).

use alloy_network::TransactionBuilder;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_provider::Provider;
use alloy_rpc_types_eth::TransactionRequest;

use super::settle::{OnchainSettler, SendError, calldata};
use super::{ExactAuthorization, abi_word as word, selector};
use crate::facilitator::FacilitatorError;

/// Multicall3's address on every chain that has it.
pub const MULTICALL3: Address = Address::new([
    0xca, 0x11, 0xbd, 0xe0, 0x59, 0x77, 0xb3, 0x63, 0x11, 0x67, 0x02, 0x88, 0x62, 0xbe, 0x2a, 0x17,
    0x39, 0x76, 0xca, 0x11,
]);

/// What happened to one authorization of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Spent by this transaction.
    Settled(String),
    /// Would fail (the token's revert reason) or failed inside the transaction (`None`): not
    /// spent by us (maybe spent before by someone else, or by a transaction still pending).
    Refused(Option<String>),
    /// The transaction's fate is not known yet.
    Unknown,
}

impl OnchainSettler {
    /// Settles `auths` (all of one `token`) in one Multicall3 transaction; one outcome per
    /// authorization, in order. `Err` means nothing was sent.
    pub async fn settle_batch(
        &self,
        token: Address,
        auths: &[&ExactAuthorization],
    ) -> Result<Vec<BatchOutcome>, FacilitatorError> {
        let provider = self.provider();
        let calls: Vec<Bytes> = auths.iter().map(|a| calldata(a)).collect();
        // 1.
        let probe = TransactionRequest::default()
            .with_to(self.multicall())
            .with_input(aggregate3(token, &calls));
        let answer = self.rpc("batch simulation", provider.call(probe)).await?;
        let results = decode_results(&answer, calls.len()).ok_or_else(|| {
            FacilitatorError::Unreachable("batch simulation answered garbage".into())
        })?;
        let mut live = Vec::with_capacity(auths.len());
        let mut outcomes = vec![BatchOutcome::Refused(None); auths.len()];
        for (i, (ok, data)) in results.iter().enumerate() {
            if *ok {
                live.push(i);
            } else {
                let reason = revert_reason(data);
                tracing::info!(payer = %auths[i].from, "authorization would fail: {reason}");
                outcomes[i] = BatchOutcome::Refused(Some(reason));
            }
        }
        if live.is_empty() {
            return Ok(outcomes);
        }
        // 2. Gas is estimated with failures *not* allowed: with them allowed, the estimate is the
        // least gas at which the batch does not revert, which starves the calls inside it.
        let live_calls: Vec<Bytes> = live.iter().map(|&i| calls[i].clone()).collect();
        let strict = TransactionRequest::default()
            .with_to(self.multicall())
            .with_input(aggregate3_with(token, &live_calls, false));
        let gas = match self.rpc("batch gas", provider.estimate_gas(strict)).await {
            Ok(g) => g.saturating_mul(6) / 5 + 20_000,
            Err(_) => PER_CALL_GAS * live_calls.len() as u64 + 50_000,
        };
        let tx = TransactionRequest::default()
            .with_to(self.multicall())
            .with_input(aggregate3(token, &live_calls))
            .with_gas_limit(gas);
        let pending = match self.send_next(tx).await {
            Ok(p) => p,
            Err(SendError::NotSent(e)) => return Err(e),
            Err(SendError::Refused(message)) => {
                return Err(FacilitatorError::Unreachable(format!(
                    "batch send: {message}"
                )));
            }
            // It may have reached the node: unknown, the chain is asked before anything is sent again.
            Err(SendError::NoAnswer) => {
                tracing::warn!("batch send: no answer in time");
                for &i in &live {
                    outcomes[i] = BatchOutcome::Unknown;
                }
                return Ok(outcomes);
            }
        };
        let hash = *pending.tx_hash();
        let receipt = match self.receipt(pending).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("no receipt for batch: {e}");
                for &i in &live {
                    outcomes[i] = BatchOutcome::Unknown;
                }
                return Ok(outcomes);
            }
        };
        // 3.
        let used = authorization_used_topic();
        let spent: Vec<(B256, B256)> = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == token)
            .filter_map(|l| match l.topics() {
                [t0, who, nonce, ..] if *t0 == used => Some((*who, *nonce)),
                _ => None,
            })
            .collect();
        let tx_hash = format!("{hash}");
        for &i in &live {
            let key = (B256::from(word(auths[i].from.as_slice())), auths[i].nonce);
            if spent.contains(&key) {
                outcomes[i] = BatchOutcome::Settled(tx_hash.clone());
            }
        }
        Ok(outcomes)
    }
}

/// `topic0` of EIP-3009's `AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)`.
fn authorization_used_topic() -> B256 {
    keccak256("AuthorizationUsed(address,bytes32)")
}

/// Gas for one `transferWithAuthorization` when the estimate is not to be had (it costs about
/// 60k with cold storage).
const PER_CALL_GAS: u64 = 100_000;

/// `aggregate3((address target, bool allowFailure, bytes callData)[])` calldata, every call to
/// `target` with failure allowed.
pub fn aggregate3(target: Address, calls: &[Bytes]) -> Bytes {
    aggregate3_with(target, calls, true)
}

fn aggregate3_with(target: Address, calls: &[Bytes], allow_failure: bool) -> Bytes {
    let mut out = selector("aggregate3((address,bool,bytes)[])").to_vec();
    let n = calls.len();
    out.extend_from_slice(&u256_word(32)); // offset of the array
    out.extend_from_slice(&u256_word(n));
    // Each element is a dynamic tuple: its offset from the start of the offsets area.
    let mut offset = 32 * n;
    let sizes: Vec<usize> = calls.iter().map(|c| 4 * 32 + padded(c.len())).collect();
    for size in &sizes {
        out.extend_from_slice(&u256_word(offset));
        offset += size;
    }
    for call in calls {
        out.extend_from_slice(&word(target.as_slice()));
        out.extend_from_slice(&u256_word(usize::from(allow_failure)));
        out.extend_from_slice(&u256_word(3 * 32)); // offset of callData within the tuple
        out.extend_from_slice(&u256_word(call.len()));
        out.extend_from_slice(call);
        out.extend(std::iter::repeat_n(0u8, padded(call.len()) - call.len()));
    }
    Bytes::from(out)
}

/// The `Error(string)` text of a revert, or its hex.
fn revert_reason(data: &[u8]) -> String {
    let text = (data.len() >= 68 && data[..4] == [0x08, 0xc3, 0x79, 0xa0])
        .then(|| {
            let len = usize::try_from(U256::from_be_slice(&data[36..68])).ok()?;
            let bytes = data.get(68..68usize.checked_add(len)?)?;
            String::from_utf8(bytes.to_vec()).ok()
        })
        .flatten();
    text.unwrap_or_else(|| format!("0x{}", alloy_primitives::hex::encode(data)))
}

/// Each call's (success, returnData) of an `aggregate3` answer
/// (`(bool success, bytes returnData)[]`).
fn decode_results(data: &[u8], expected: usize) -> Option<Vec<(bool, Vec<u8>)>> {
    let read = |at: usize| -> Option<usize> {
        let w = data.get(at..at.checked_add(32)?)?;
        let v = U256::from_be_slice(w);
        usize::try_from(v).ok()
    };
    let array = read(0)?;
    let n = read(array)?;
    if n != expected {
        return None;
    }
    let base = array + 32;
    (0..n)
        .map(|i| {
            let tuple = base.checked_add(read(base + 32 * i)?)?;
            let ok = read(tuple)? == 1;
            let bytes = tuple.checked_add(read(tuple + 32)?)?;
            let len = read(bytes)?;
            let body = data.get(bytes + 32..(bytes + 32).checked_add(len)?)?;
            Some((ok, body.to_vec()))
        })
        .collect()
}

fn u256_word(n: usize) -> [u8; 32] {
    U256::from(n).to_be_bytes::<32>()
}

fn padded(len: usize) -> usize {
    len.div_ceil(32) * 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_and_address_are_multicall3s() {
        assert_eq!(
            selector("aggregate3((address,bool,bytes)[])"),
            [0x82, 0xad, 0x56, 0xcb]
        );
        assert_eq!(
            MULTICALL3,
            "0xcA11bde05977b3631167028862bE2a173976CA11"
                .parse::<Address>()
                .unwrap()
        );
    }

    #[test]
    fn aggregate3_lays_out_dynamic_tuples() {
        let token = Address::repeat_byte(0x42);
        let calls = vec![Bytes::from(vec![0xaa; 36]), Bytes::from(vec![0xbb; 4])];
        let data = aggregate3(token, &calls);
        let w = |i: usize| U256::from_be_slice(&data[4 + 32 * i..4 + 32 * (i + 1)]);
        assert_eq!(w(0), U256::from(32), "array offset");
        assert_eq!(w(1), U256::from(2), "two calls");
        // first tuple after the two offsets; it takes 4 words + 64 bytes of padded data
        assert_eq!(w(2), U256::from(64));
        assert_eq!(w(3), U256::from(64 + 4 * 32 + 64));
        let first = 4 + 32 * 4;
        assert_eq!(&data[first + 12..first + 32], token.as_slice());
        assert_eq!(w(5), U256::from(1), "allowFailure");
        assert_eq!(w(6), U256::from(96), "callData offset in the tuple");
        assert_eq!(w(7), U256::from(36), "callData length");
        assert_eq!(&data[first + 128..first + 164], &[0xaa; 36][..]);
        assert_eq!(data.len(), 4 + 32 * 4 + (128 + 64) + (128 + 32));
    }

    #[test]
    fn success_flags_are_read_from_an_aggregate3_answer() {
        // [(true, 0x), (false, 0x08c379a0)] as Multicall3 returns it
        let mut d = Vec::new();
        let push = |d: &mut Vec<u8>, n: usize| d.extend_from_slice(&u256_word(n));
        push(&mut d, 32);
        push(&mut d, 2);
        push(&mut d, 64); // tuple 0 offset
        push(&mut d, 64 + 96); // tuple 1 offset
        push(&mut d, 1);
        push(&mut d, 64);
        push(&mut d, 0);
        push(&mut d, 0);
        push(&mut d, 64);
        push(&mut d, 4);
        d.extend_from_slice(&[0x08, 0xc3, 0x79, 0xa0]);
        d.extend_from_slice(&[0; 28]);
        let flags = |data: &[u8], n| {
            decode_results(data, n).map(|r| r.into_iter().map(|(ok, _)| ok).collect::<Vec<_>>())
        };
        assert_eq!(flags(&d, 2), Some(vec![true, false]));
        assert_eq!(flags(&d, 3), None, "count mismatch");
        assert_eq!(flags(&d[..100], 2), None, "truncated");
    }
}

//! On-chain self-settlement (`[chains."eip155:N"] settle = "onchain"`): the gateway submits
//! `transferWithAuthorization` itself, from its own gas key, instead of asking a facilitator.
//!
//! The `(v, r, s)` overload carries a 65-byte signature, the `bytes` overload any other (smart
//! wallets). One settler per chain counts the account's nonces (`nonces.rs`), so concurrent
//! settlements never collide and a stuck transaction is replaced rather than queued behind. The
//! gas price comes from the node and must stay under `max_gas_price_gwei`, else nothing is sent. A broadcast transaction is awaited for at most
//! `receipt_timeout_ms`; a revert is a definite refusal, a timeout an unknown outcome (the chain
//! then decides, `proxy/settle.rs`). The key is read from the environment and never logged.

use std::time::Duration;

use alloy_network::{Ethereum, EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, U256};
use alloy_provider::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy_rpc_types_eth::{TransactionReceipt, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use async_trait::async_trait;

use super::nonces::AccountNonces;
use super::{ExactAuthorization, abi_word as word, selector};
use crate::facilitator::{FacilitatorError, Settler};
use crate::x402::settlement::{Payment, SettleResponse};

/// Settings of one chain's settler (compared on reload).
#[derive(Clone, PartialEq, Eq)]
pub struct OnchainSettings {
    pub chain_id: u64,
    pub rpc_url: String,
    /// Hex private key of the gas account.
    pub gas_key: String,
    pub max_gas_price_wei: u128,
    pub receipt_timeout: Duration,
    /// How long any other call to the node may take (the larger of `receipt_timeout_ms` and
    /// `rpc_timeout_ms`): none may hang a settlement, or hold the account's nonce, for ever.
    pub rpc_timeout: Duration,
    /// Background settlements per transaction at most (1: no batching).
    pub batch_max: usize,
    /// How long the first background settlement waits for others to share its transaction.
    pub batch_wait: Duration,
    /// Batches being settled at once at most.
    pub batches_in_flight: usize,
    /// The Multicall3 contract batches go through.
    pub multicall: Address,
}

impl std::fmt::Debug for OnchainSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnchainSettings")
            .field("chain_id", &self.chain_id)
            .field("gas_key", &"<redacted>")
            .finish()
    }
}

/// Submits authorizations on one chain.
pub struct OnchainSettler {
    settings: OnchainSettings,
    provider: DynProvider,
    /// The gas account, for `/status` and logs.
    pub account: Address,
    nonces: AccountNonces,
    /// Held while a transaction takes its nonce and goes to the node.
    send_lane: tokio::sync::Mutex<()>,
}

/// Why a transaction did not go out (or may not have).
pub(super) enum SendError {
    /// Nothing was sent (the node's price or the account's nonce could not be read, the price
    /// is above the ceiling, the send failed, or the node refused it for its nonce): it may be
    /// tried again.
    NotSent(FacilitatorError),
    /// The node refused the transaction itself (a JSON-RPC error, such as a revert found by
    /// its gas estimate): nothing went out.
    Refused(String),
    /// No answer in time: it may have reached the node.
    NoAnswer,
}

impl OnchainSettler {
    pub fn new(settings: OnchainSettings) -> Result<Self, String> {
        let signer: PrivateKeySigner = settings
            .gas_key
            .trim()
            .parse()
            .map_err(|_| "the gas key is not a hex private key".to_string())?;
        let account = signer.address();
        let url = settings
            .rpc_url
            .parse()
            .map_err(|_| "the RPC URL is not a URL".to_string())?;
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_chain_id(settings.chain_id)
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased();
        Ok(Self {
            settings,
            provider,
            account,
            nonces: AccountNonces::default(),
            send_lane: tokio::sync::Mutex::new(()),
        })
    }

    pub fn settings(&self) -> &OnchainSettings {
        &self.settings
    }

    pub(super) fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub(super) fn multicall(&self) -> Address {
        self.settings.multicall
    }

    /// Sends `tx` (everything set but its nonce and gas price) as the account's next
    /// transaction. One send at a time per account: the nonce is taken and the transaction
    /// handed to the node under one lock, so a send that fails (and makes the next one count
    /// from the chain again) never races another that took the nonce after it.
    ///
    /// The gas price is the node's (or more, to replace a stuck transaction), if it is under
    /// the ceiling; else nothing is sent (the payment is not charged and may be presented again).
    pub(super) async fn send_next(
        &self,
        tx: TransactionRequest,
    ) -> Result<PendingTransactionBuilder<Ethereum>, SendError> {
        let _turn = self.send_lane.lock().await;
        let node_price = self
            .rpc("gas price", self.provider.get_gas_price())
            .await
            .map_err(SendError::NotSent)?;
        let count = self.provider.get_transaction_count(self.account).latest();
        let slot = self
            .nonces
            .take(self.rpc("account nonce", count))
            .await
            .map_err(SendError::NotSent)?;
        let price = node_price.max(slot.min_price);
        if price > self.settings.max_gas_price_wei {
            self.nonces.lost().await;
            return Err(SendError::NotSent(FacilitatorError::Unreachable(format!(
                "gas price {price} wei is above the ceiling {}",
                self.settings.max_gas_price_wei
            ))));
        }
        let tx = tx.with_nonce(slot.nonce).with_gas_price(price);
        let sent = tokio::time::timeout(
            self.settings.rpc_timeout,
            self.provider.send_transaction(tx),
        );
        match sent.await {
            Ok(Ok(pending)) => {
                self.nonces.sent(price).await;
                Ok(pending)
            }
            Ok(Err(e)) => {
                self.nonces.lost().await;
                let message = e.to_string();
                if e.as_error_resp().is_some() && !nonce_trouble(&message) {
                    Err(SendError::Refused(message))
                } else {
                    Err(SendError::NotSent(FacilitatorError::Unreachable(format!(
                        "send: {message}"
                    ))))
                }
            }
            Err(_) => {
                self.nonces.lost().await;
                Err(SendError::NoAnswer)
            }
        }
    }

    /// The receipt of a sent transaction, awaited for at most `receipt_timeout`; the account's
    /// nonces learn whether it confirmed.
    pub(super) async fn receipt(
        &self,
        pending: PendingTransactionBuilder<Ethereum>,
    ) -> Result<TransactionReceipt, String> {
        let hash = *pending.tx_hash();
        match pending
            .with_timeout(Some(self.settings.receipt_timeout))
            .get_receipt()
            .await
        {
            Ok(r) => {
                self.nonces.confirmed().await;
                Ok(r)
            }
            Err(e) => {
                self.nonces.stalled().await;
                Err(format!("receipt of {hash}: {e}"))
            }
        }
    }

    /// A call to the node, given at most `rpc_timeout`.
    pub(super) async fn rpc<T, E: std::fmt::Display>(
        &self,
        what: &str,
        call: impl std::future::IntoFuture<Output = Result<T, E>>,
    ) -> Result<T, FacilitatorError> {
        match tokio::time::timeout(self.settings.rpc_timeout, call.into_future()).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(FacilitatorError::Unreachable(format!("{what}: {e}"))),
            Err(_) => Err(FacilitatorError::Unreachable(format!(
                "{what}: no answer in time"
            ))),
        }
    }
}

#[async_trait]
impl Settler for OnchainSettler {
    async fn settle(&self, payment: &Payment<'_>) -> Result<SettleResponse, FacilitatorError> {
        let (auth, asset) = (payment.auth, payment.token);
        let network = payment.network.to_string();
        let refused = |reason: &str, tx: String| SettleResponse {
            success: false,
            error_reason: Some(reason.to_string()),
            error_message: None,
            payer: Some(auth.from.to_checksum(None)),
            transaction: tx,
            network: network.clone(),
            amount: None,
        };
        // Estimation runs the call first: a revert there (used nonce, expired, no balance) means
        // nothing was broadcast.
        let tx = TransactionRequest::default()
            .with_to(asset)
            .with_input(calldata(auth));
        let pending = match self.send_next(tx).await {
            Ok(p) => p,
            Err(SendError::Refused(message)) => {
                tracing::info!(payer = %auth.from, "settlement refused by the node: {message}");
                return Ok(refused(
                    "invalid_exact_evm_transaction_failed",
                    String::new(),
                ));
            }
            Err(SendError::NotSent(e)) => return Err(e),
            // It may have reached the node: the outcome is unknown, the chain decides.
            Err(SendError::NoAnswer) => {
                return Err(FacilitatorError::NoAnswer("send: no answer in time".into()));
            }
        };
        let hash = *pending.tx_hash();
        let receipt = self
            .receipt(pending)
            .await
            .map_err(FacilitatorError::NoAnswer)?;
        let tx = format!("{hash}");
        if !receipt.status() {
            return Ok(refused("invalid_exact_evm_transaction_failed", tx));
        }
        Ok(SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(auth.from.to_checksum(None)),
            transaction: tx,
            network,
            amount: None,
        })
    }
}

/// A node's refusal that says nothing of the authorization, only of our own transaction's
/// place in the account's sequence (another send took the nonce, or a stuck one holds it):
/// nothing went out and the settlement may be tried again.
fn nonce_trouble(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("nonce") || m.contains("underpriced") || m.contains("replacement")
}

/// `transferWithAuthorization` calldata: the `(v, r, s)` overload for a 65-byte signature, the
/// `bytes` one for any other.
pub fn calldata(auth: &ExactAuthorization) -> Bytes {
    let mut out = Vec::with_capacity(4 + 32 * 10);
    let head = |out: &mut Vec<u8>| {
        for word in [
            word(auth.from.as_slice()),
            word(auth.to.as_slice()),
            auth.value.to_be_bytes::<32>(),
            U256::from(auth.valid_after).to_be_bytes::<32>(),
            U256::from(auth.valid_before).to_be_bytes::<32>(),
            auth.nonce.0,
        ] {
            out.extend_from_slice(&word);
        }
    };
    if let Ok(sig) = <&[u8; 65]>::try_from(auth.signature.as_slice()) {
        out.extend_from_slice(&selector(
            "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
        ));
        head(&mut out);
        out.extend_from_slice(&word(&[sig[64]]));
        out.extend_from_slice(&sig[..32]);
        out.extend_from_slice(&sig[32..64]);
    } else {
        out.extend_from_slice(&selector(
            "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
        ));
        head(&mut out);
        // offset of the bytes argument: after the seven head words
        out.extend_from_slice(&U256::from(7 * 32).to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(auth.signature.len()).to_be_bytes::<32>());
        out.extend_from_slice(&auth.signature);
        let pad = (32 - auth.signature.len() % 32) % 32;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(signature: Vec<u8>) -> ExactAuthorization {
        ExactAuthorization {
            from: Address::repeat_byte(1),
            to: Address::repeat_byte(2),
            value: U256::from(1000),
            valid_after: 5,
            valid_before: 6,
            nonce: alloy_primitives::B256::repeat_byte(7),
            signature,
        }
    }

    #[test]
    fn calldata_picks_the_overload_by_signature_length() {
        let mut sig = vec![0x11; 32];
        sig.extend_from_slice(&[0x22; 32]);
        sig.push(28);
        let eoa = calldata(&auth(sig));
        assert_eq!(&eoa[..4], &[0xe3, 0xee, 0x16, 0x0e], "the (v,r,s) overload");
        assert_eq!(eoa.len(), 4 + 9 * 32);
        assert_eq!(eoa[4 + 6 * 32 + 31], 28, "v");
        assert_eq!(&eoa[4 + 7 * 32..4 + 8 * 32], &[0x11; 32], "r");
        let wallet = calldata(&auth(vec![0xab; 70]));
        assert_eq!(
            &wallet[..4],
            &selector(
                "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
            )
        );
        // six head words, the offset of the bytes (seven words in), their length, 70 bytes
        // padded to 96
        assert_eq!(wallet.len(), 4 + 6 * 32 + 32 + 32 + 96);
        let word_at = |i: usize| U256::from_be_slice(&wallet[4 + i * 32..4 + (i + 1) * 32]);
        assert_eq!(word_at(6), U256::from(7 * 32), "offset");
        assert_eq!(word_at(7), U256::from(70), "length");
        assert_eq!(&wallet[4 + 8 * 32..4 + 8 * 32 + 70], &[0xab; 70][..]);
    }
}

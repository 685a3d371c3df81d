//! Chain state for local verification: a token's `balanceOf(payer)` and EIP-3009
//! `authorizationState(payer, nonce)`, read with `eth_call` through alloy's JSON-RPC client and
//! kept in a short-lived cache (`[chains."eip155:N"] chain_cache_ms`).
//!
//! Payments verified here but not settled yet are *reserved* against the payer's balance, so
//! concurrent payments can never together spend more than the payer holds. A reservation ends
//! with its payment: one known to be settled takes its value off the cached balance (no RPC
//! read needed, the cache keeps its original age); any other drops the cached balance, which
//! may have changed.
//! A used nonce is cached for as long as the cache lives (it can never become unused again).

use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_rpc_client::RpcClient;
use moka::sync::Cache;

use crate::tally::{Held, Tally};

use super::{abi_word as word, selector};

/// Why chain state could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("chain RPC failed: {0}")]
pub struct ChainError(pub String);

/// Settings of one chain's reader (compared on reload, so unchanged readers keep their cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSettings {
    pub chain_id: u64,
    pub rpc_url: String,
    pub cache_ttl: Duration,
    pub rpc_timeout: Duration,
    /// How long a settlement of unknown outcome is re-checked on chain before it counts as
    /// not spent.
    pub reconcile_wait: Duration,
}

/// (token, payer): whose balance.
type Holder = (Address, Address);

/// A balance as read, and when.
#[derive(Debug, Clone, Copy)]
struct Cached {
    balance: U256,
    read_at: std::time::Instant,
}

/// Reads and caches one chain's token state.
pub struct ChainReader {
    settings: ChainSettings,
    client: RpcClient,
    balances: Cache<Holder, Cached>,
    used_nonces: Cache<(Address, Address, B256), ()>,
    reserved: Tally<Holder>,
}

impl std::fmt::Debug for ChainReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainReader(eip155:{})", self.settings.chain_id)
    }
}

/// A payment's value held against its payer's balance until the request ends.
#[derive(Debug)]
pub struct Reservation {
    held: Option<Held<Holder>>,
    balances: Cache<Holder, Cached>,
    /// Known settled: the cached balance is lowered instead of dropped.
    settled: bool,
}

impl Reservation {
    /// The payment was settled: its value left the payer's balance.
    pub fn settled(mut self) {
        self.settled = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        let (holder, value) = (*held.key(), held.value());
        drop(held);
        if self.settled {
            self.balances
                .entry(holder)
                .and_compute_with(|entry| match entry {
                    Some(e) => {
                        let c = e.into_value();
                        moka::ops::compute::Op::Put(Cached {
                            balance: c.balance.saturating_sub(value),
                            read_at: c.read_at,
                        })
                    }
                    None => moka::ops::compute::Op::Nop,
                });
        } else {
            // The balance may have moved: the next payment reads it again.
            self.balances.invalidate(&holder);
        }
    }
}

/// Whether [`ChainReader::check`] reads the nonce from the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRead {
    Now,
    /// Left to the settlement step (`settle = "background"`).
    Deferred,
}

/// What the chain says about an authorization.
#[derive(Debug)]
pub enum ChainVerdict {
    /// Unused nonce and enough balance: the value is reserved.
    Payable(Reservation),
    NonceUsed,
    /// Balance (less what is reserved for payments in flight) below the value.
    InsufficientBalance,
}

impl ChainReader {
    pub fn new(settings: ChainSettings) -> Result<Self, String> {
        let url = settings
            .rpc_url
            .parse()
            .map_err(|_| format!("`{}` is not a URL", settings.rpc_url))?;
        let client = RpcClient::new_http(url);
        Ok(Self {
            balances: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.cache_ttl)
                .build(),
            used_nonces: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.cache_ttl.max(Duration::from_secs(600)))
                .build(),
            reserved: Tally::default(),
            client,
            settings,
        })
    }

    pub fn settings(&self) -> &ChainSettings {
        &self.settings
    }

    /// Checks the nonce and the balance of `payer` for `value` of `token`, in that order (the
    /// official facilitator's), and reserves the value when both hold. With
    /// [`NonceRead::Deferred`] the nonce is not read from the chain (one this reader has seen used
    /// is still refused): under `settle = "background"` it is left to the settlement step, within
    /// the payer's unsettled cap.
    pub async fn check(
        &self,
        token: Address,
        payer: Address,
        nonce: B256,
        value: U256,
        read: NonceRead,
    ) -> Result<ChainVerdict, ChainError> {
        let spent = self.known_spent(token, payer, nonce)
            || (read == NonceRead::Now && self.is_spent(token, payer, nonce).await?);
        if spent {
            return Ok(ChainVerdict::NonceUsed);
        }
        self.check_balance(token, payer, value).await
    }

    /// Checks only the balance (cached, less what is reserved) and reserves the value.
    pub async fn check_balance(
        &self,
        token: Address,
        payer: Address,
        value: U256,
    ) -> Result<ChainVerdict, ChainError> {
        let holder = (token, payer);
        let fresh = self
            .balances
            .get(&holder)
            .filter(|c| c.read_at.elapsed() < self.settings.cache_ttl);
        let balance = match fresh {
            Some(c) => c.balance,
            None => {
                let mut data = selector("balanceOf(address)").to_vec();
                data.extend_from_slice(&word(payer.as_slice()));
                let b = self.call(token, data).await?;
                self.balances.insert(
                    holder,
                    Cached {
                        balance: b,
                        read_at: std::time::Instant::now(),
                    },
                );
                b
            }
        };
        Ok(match self.reserve(holder, balance, value) {
            Some(r) => ChainVerdict::Payable(r),
            None => ChainVerdict::InsufficientBalance,
        })
    }

    /// Reserves `value` against `balance` less what payments in flight already hold, atomically
    /// per holder (two concurrent payments cannot both fit in one balance); `None` if it does not fit.
    fn reserve(&self, holder: Holder, balance: U256, value: U256) -> Option<Reservation> {
        let held = self.reserved.try_hold(holder, value, balance)?;
        Some(Reservation {
            held: Some(held),
            balances: self.balances.clone(),
            settled: false,
        })
    }

    /// Whether this reader has seen the nonce spent (no RPC call).
    fn known_spent(&self, token: Address, payer: Address, nonce: B256) -> bool {
        self.used_nonces.contains_key(&(token, payer, nonce))
    }

    /// Whether the authorization was spent on chain, read now (no cache): the chain's answer to
    /// a settlement whose outcome the facilitator did not give.
    pub async fn is_spent(
        &self,
        token: Address,
        payer: Address,
        nonce: B256,
    ) -> Result<bool, ChainError> {
        let mut data = selector("authorizationState(address,bytes32)").to_vec();
        data.extend_from_slice(&word(payer.as_slice()));
        data.extend_from_slice(nonce.as_slice());
        let spent = !self.call(token, data).await?.is_zero();
        if spent {
            self.used_nonces.insert((token, payer, nonce), ());
        }
        Ok(spent)
    }

    /// `eth_call` to `to` at the latest block; the 32-byte result as a number.
    async fn call(&self, to: Address, data: Vec<u8>) -> Result<U256, ChainError> {
        let params = (
            serde_json::json!({
                "to": to.to_checksum(None),
                "data": format!("0x{}", alloy_primitives::hex::encode(data)),
            }),
            "latest",
        );
        let request = self
            .client
            .request::<_, alloy_primitives::Bytes>("eth_call", params);
        let out = tokio::time::timeout(self.settings.rpc_timeout, request)
            .await
            .map_err(|_| ChainError("timed out".into()))?
            .map_err(|e| ChainError(e.to_string()))?;
        if out.len() < 32 {
            return Err(ChainError(format!(
                "eth_call returned {} bytes, not a word",
                out.len()
            )));
        }
        Ok(U256::from_be_slice(&out[..32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader whose cache already knows the balance (no RPC is reachable).
    fn reader_with_balance(balance: u64) -> (ChainReader, Holder) {
        let r = ChainReader::new(ChainSettings {
            chain_id: 84532,
            rpc_url: "http://127.0.0.1:1".into(),
            cache_ttl: Duration::from_secs(60),
            rpc_timeout: Duration::from_millis(200),
            reconcile_wait: Duration::from_secs(1),
        })
        .unwrap();
        let holder = (Address::repeat_byte(1), Address::repeat_byte(2));
        r.balances.insert(
            holder,
            Cached {
                balance: U256::from(balance),
                read_at: std::time::Instant::now(),
            },
        );
        (r, holder)
    }

    #[test]
    fn selectors_are_the_tokens() {
        assert_eq!(selector("balanceOf(address)"), [0x70, 0xa0, 0x82, 0x31]);
        assert_eq!(
            selector("authorizationState(address,bytes32)"),
            [0xe9, 0x4a, 0x01, 0x02]
        );
    }

    #[test]
    fn concurrent_payments_cannot_spend_more_than_the_balance() {
        let (r, holder) = reader_with_balance(2500);
        let balance = U256::from(2500);
        let a = r
            .reserve(holder, balance, U256::from(1000))
            .expect("first fits");
        let b = r
            .reserve(holder, balance, U256::from(1000))
            .expect("second fits");
        assert!(
            r.reserve(holder, balance, U256::from(1000)).is_none(),
            "a third would overspend 2500"
        );
        drop(a);
        assert!(
            r.balances.get(&holder).is_none(),
            "a finished payment drops the cached balance"
        );
        assert!(
            r.reserve(holder, balance, U256::from(1000)).is_some(),
            "room again"
        );
        drop(b);
        assert!(
            r.reserved.is_empty(),
            "nothing held once every payment ended"
        );
    }

    #[tokio::test]
    async fn a_settled_payment_lowers_the_cached_balance_without_a_read() {
        let (r, (token, payer)) = reader_with_balance(2500);
        let ChainVerdict::Payable(hold) = r
            .check_balance(token, payer, U256::from(1000))
            .await
            .unwrap()
        else {
            panic!("payable");
        };
        hold.settled();
        let cached = r.balances.get(&(token, payer)).expect("still cached");
        assert_eq!(cached.balance, U256::from(1500));
        // 1500 left: one more payment of 1000 fits, a second does not (no RPC is reachable).
        let ChainVerdict::Payable(_one) = r
            .check_balance(token, payer, U256::from(1000))
            .await
            .unwrap()
        else {
            panic!("payable");
        };
        assert!(matches!(
            r.check_balance(token, payer, U256::from(1000))
                .await
                .unwrap(),
            ChainVerdict::InsufficientBalance
        ));
    }

    #[tokio::test]
    async fn an_unreachable_rpc_is_an_error_not_a_verdict() {
        let (r, (token, payer)) = reader_with_balance(0);
        let e = r
            .check(
                token,
                payer,
                B256::repeat_byte(3),
                U256::from(1),
                NonceRead::Now,
            )
            .await;
        assert!(e.is_err(), "{e:?}");
    }
}

//! The gas account's transaction nonces, for every transaction the gateway sends on a chain
//! (single settlements and batches alike).
//!
//! Counted here rather than by alloy's cached nonce manager, which never looks at the chain
//! again: one nonce lost to a failed send, or one transaction priced under a base fee that rose,
//! and every later transaction queues behind it for ever (seen: ten batches pending in anvil's
//! pool, nothing mined, thousands of payments stuck in `settling`). After a failed send, or a
//! transaction not confirmed within the receipt timeout, the next transaction takes the chain's
//! *mined* count again: it reuses the stuck transaction's nonce and replaces it, priced at least
//! 15 % above the last price (nodes want 10 % more to replace), up to the ceiling.

use tokio::sync::Mutex;

use crate::facilitator::FacilitatorError;

/// A nonce to send with, and the least gas price that may replace what it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub nonce: u64,
    pub min_price: u128,
}

#[derive(Debug, Default)]
struct State {
    /// `None`: read the mined count from the chain before the next send.
    next: Option<u64>,
    last_price: u128,
    /// A transaction did not confirm: replacements must outbid it.
    stalled: bool,
}

/// One account's nonces.
#[derive(Debug, Default)]
pub struct AccountNonces {
    state: Mutex<State>,
}

impl AccountNonces {
    /// The next nonce; `mined` (the account's mined count, a call bounded in time) is asked
    /// only when it is unknown.
    pub async fn take(
        &self,
        mined: impl std::future::Future<Output = Result<u64, FacilitatorError>>,
    ) -> Result<Slot, FacilitatorError> {
        let mut s = self.state.lock().await;
        let nonce = match s.next {
            Some(n) => n,
            None => mined.await?,
        };
        s.next = Some(nonce + 1);
        Ok(Slot {
            nonce,
            min_price: min_price(&s),
        })
    }

    /// A transaction went out at `price`.
    pub async fn sent(&self, price: u128) {
        self.state.lock().await.last_price = price;
    }

    /// A send failed: its nonce may be unused; count again from the chain.
    pub async fn lost(&self) {
        self.state.lock().await.next = None;
    }

    /// A transaction did not confirm in time: count again, and outbid it.
    pub async fn stalled(&self) {
        let mut s = self.state.lock().await;
        s.next = None;
        s.stalled = true;
    }

    /// A transaction confirmed: prices need not outbid anything any more.
    pub async fn confirmed(&self) {
        self.state.lock().await.stalled = false;
    }
}

fn min_price(s: &State) -> u128 {
    if s.stalled {
        s.last_price.saturating_mul(115) / 100 + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_asks_replacements_to_outbid_the_last_price() {
        let mut s = State {
            next: Some(5),
            last_price: 1_000,
            stalled: false,
        };
        assert_eq!(min_price(&s), 0);
        s.stalled = true;
        assert_eq!(min_price(&s), 1_151);
    }
}

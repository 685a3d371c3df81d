//! What each payer owes in payments delivered but not settled yet (`settle = "background"`), and
//! the cap on it: a payer may run up at most the offer's `max_unsettled` before their payments
//! settle as `after`. A payer whose background settlement failed (a used nonce, an empty
//! balance) is *flagged*: for an hour every payment of theirs settles as `after`, so a cheat
//! gains at most one cap's worth.

use std::time::Duration;

use alloy_primitives::{Address, U256};
use moka::sync::Cache;

use crate::tally::{Held, Tally};

/// (chain id, token, payer).
pub type Debtor = (u64, Address, Address);

/// How long a payer whose settlement failed gets no credit.
const FLAGGED_FOR: Duration = Duration::from_secs(3600);

/// Unsettled value per payer.
pub struct Owed {
    owed: Tally<Debtor>,
    flagged: Cache<Address, ()>,
}

impl Default for Owed {
    fn default() -> Self {
        Self {
            owed: Tally::default(),
            flagged: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FLAGGED_FOR)
                .build(),
        }
    }
}

/// One payment's value counted against its payer until it is settled (or given up).
pub type OwedHold = Held<Debtor>;

impl std::fmt::Debug for Owed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Owed({} payers)", self.owed.len())
    }
}

impl Owed {
    /// Counts `value` against `debtor` if the total stays within `cap` (never for a flagged
    /// payer).
    pub fn try_hold(&self, debtor: Debtor, value: U256, cap: U256) -> Option<OwedHold> {
        if self.flagged.contains_key(&debtor.2) {
            return None;
        }
        self.owed.try_hold(debtor, value, cap)
    }

    /// Counts `value` whatever the cap (a payment recovered from the ledger is owed already).
    pub fn hold(&self, debtor: Debtor, value: U256) -> OwedHold {
        self.owed.hold(debtor, value)
    }

    /// A settlement of this payer failed: no more credit for a while.
    pub fn flag(&self, payer: Address) {
        self.flagged.insert(payer, ());
    }

    /// The unsettled value of every payer together, in atomic units (for metrics).
    pub fn total(&self) -> U256 {
        self.owed.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debtor(payer: u8) -> Debtor {
        (84532, Address::repeat_byte(1), Address::repeat_byte(payer))
    }

    #[test]
    fn a_payer_owes_at_most_the_cap() {
        let owed = Owed::default();
        let cap = U256::from(2500);
        let a = owed
            .try_hold(debtor(2), U256::from(1000), cap)
            .expect("fits");
        let _b = owed
            .try_hold(debtor(2), U256::from(1000), cap)
            .expect("fits");
        assert!(owed.try_hold(debtor(2), U256::from(1000), cap).is_none());
        assert!(
            owed.try_hold(debtor(3), U256::from(1000), cap).is_some(),
            "another payer has their own cap"
        );
        drop(a);
        assert!(owed.try_hold(debtor(2), U256::from(1000), cap).is_some());
    }

    #[test]
    fn a_flagged_payer_gets_no_credit_and_holds_end_with_their_payment() {
        let owed = Owed::default();
        let cap = U256::from(10_000);
        let h = owed.hold(debtor(2), U256::from(700));
        assert_eq!(owed.total(), U256::from(700));
        drop(h);
        assert_eq!(owed.total(), U256::ZERO);
        assert!(owed.owed.is_empty(), "no empty entries left behind");
        owed.flag(Address::repeat_byte(2));
        assert!(owed.try_hold(debtor(2), U256::from(1), cap).is_none());
    }
}

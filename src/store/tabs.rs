//! The toll booth's tabs while the gateway runs: what each account owes on its open tab (seeded
//! from the ledger at start), holds for requests in flight so concurrent requests never pass a
//! credit limit together, the Web Bot Auth nonces seen (a nonce is one signed request), and the
//! ledger writes of charged lines.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use dashmap::DashMap;

use crate::ledger::{Ledger, LedgerError, TabInsert, TabLine};
use crate::tally::{Held, Tally};

/// Nonces are remembered this long at least: longer than any accepted signature window.
const NONCE_TTL: Duration = Duration::from_secs(24 * 3600 + 60);
/// Nonces remembered at most (a bounded memory; the oldest go first).
const MAX_NONCES: u64 = 4_000_000;

/// Tabs and nonces.
pub struct TabBook {
    ledger: Option<Arc<Ledger>>,
    /// Owed on open lines, micro-USD, per account.
    owed: DashMap<Arc<str>, u64>,
    /// Requests served but not yet written, per account.
    holds: Tally<Arc<str>>,
    /// nonce → the commitment id of the request that used it.
    nonces: moka::sync::Cache<String, [u8; 32]>,
}

/// A request's claim on an account's credit until its line is written or it fails.
pub struct TabHold {
    account: Arc<str>,
    price: u64,
    _held: Held<Arc<str>>,
}

impl TabHold {
    pub fn price(&self) -> u64 {
        self.price
    }
}

/// The nonce was used by another request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceReused;

impl TabBook {
    /// Tabs kept in `ledger` (none: tabs cannot be offered, see `config/toll.rs`); what each
    /// account owes is read from it now.
    pub fn open(ledger: Option<Arc<Ledger>>) -> Result<Self, LedgerError> {
        let owed = DashMap::new();
        if let Some(l) = &ledger {
            for (account, sum) in l.reader().open_tabs()? {
                owed.insert(Arc::from(account.as_str()), sum);
            }
        }
        Ok(Self {
            ledger,
            owed,
            holds: Tally::default(),
            nonces: moka::sync::Cache::builder()
                .max_capacity(MAX_NONCES)
                .time_to_live(NONCE_TTL)
                .build(),
        })
    }

    /// Tabs without a ledger: nothing can be charged (tests of the classifier and policy).
    pub fn without_ledger() -> Self {
        Self {
            ledger: None,
            owed: DashMap::new(),
            holds: Tally::default(),
            nonces: moka::sync::Cache::builder()
                .max_capacity(MAX_NONCES)
                .build(),
        }
    }

    /// Records that `nonce` signed the request `commitment`: the same request again is fine (a
    /// lost response fetched again), another request with the nonce is refused.
    pub fn use_nonce(&self, nonce: &str, commitment: [u8; 32]) -> Result<(), NonceReused> {
        let entry = self
            .nonces
            .entry(nonce.to_string())
            .or_insert_with(|| commitment);
        if entry.into_value() == commitment {
            Ok(())
        } else {
            Err(NonceReused)
        }
    }

    /// The line already charged for this commitment id, if any.
    pub fn charged(&self, commitment: &[u8; 32]) -> Result<Option<TabLine>, LedgerError> {
        match &self.ledger {
            Some(l) => l
                .reader()
                .tab_line(&alloy_primitives::hex::encode(commitment)),
            None => Ok(None),
        }
    }

    /// What `account` owes on its open tab, micro-USD.
    pub fn owed(&self, account: &str) -> u64 {
        self.owed.get(account).map_or(0, |v| *v)
    }

    /// Holds `price` of `account`'s credit if what it owes, what its requests in flight hold and
    /// `price` together stay within `limit`; `None` over the limit (or without a ledger).
    pub fn hold(&self, account: &Arc<str>, price: u64, limit: u64) -> Option<TabHold> {
        self.ledger.as_ref()?;
        let room = limit.checked_sub(self.owed(account))?;
        let held = self
            .holds
            .try_hold(account.clone(), U256::from(price), U256::from(room))?;
        Some(TabHold {
            account: account.clone(),
            price,
            _held: held,
        })
    }

    /// Whether `price` more would stay within `limit` now (nothing is held).
    pub fn has_room(&self, account: &Arc<str>, price: u64, limit: u64) -> bool {
        self.hold(account, price, limit).is_some()
    }

    /// Writes a charged line (durable before it returns) and counts it on the account; the hold
    /// ends either way.
    pub async fn charge(&self, hold: TabHold, line: TabLine) -> Result<TabInsert, LedgerError> {
        let ledger = self.ledger.as_ref().ok_or(LedgerError::Closed)?;
        let amount = line.amount_micro_usd;
        let inserted = ledger.put_tab_line(line).await?;
        if inserted == TabInsert::New {
            *self.owed.entry(hold.account.clone()).or_insert(0) += amount;
        }
        drop(hold);
        Ok(inserted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_signs_one_request() {
        let book = TabBook::without_ledger();
        assert_eq!(book.use_nonce("n1", [1; 32]), Ok(()));
        assert_eq!(
            book.use_nonce("n1", [1; 32]),
            Ok(()),
            "the same request again"
        );
        assert_eq!(book.use_nonce("n1", [2; 32]), Err(NonceReused));
        assert_eq!(book.use_nonce("n2", [2; 32]), Ok(()));
    }

    #[tokio::test]
    async fn holds_and_lines_stay_within_the_credit_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = Arc::new(
            Ledger::open(crate::ledger::LedgerOptions::new(
                dir.path().join("l.sqlite"),
            ))
            .expect("ledger"),
        );
        let book = TabBook::open(Some(ledger.clone())).expect("book");
        let acme: Arc<str> = Arc::from("acme");
        let a = book.hold(&acme, 600, 1000).expect("fits");
        assert!(book.hold(&acme, 600, 1000).is_none(), "in flight counts");
        let line = |c: u8| TabLine {
            commitment: alloy_primitives::hex::encode([c; 32]),
            account: "acme".into(),
            crawler: "acme-bot".into(),
            route: "docs".into(),
            method: "GET".into(),
            url: "http://site/a".into(),
            status: 200,
            amount_micro_usd: 600,
            created_ms: 1,
            batch: None,
        };
        assert_eq!(book.charge(a, line(1)).await, Ok(TabInsert::New));
        assert_eq!(book.owed("acme"), 600);
        let b = book.hold(&acme, 400, 1000).expect("exactly at the limit");
        assert_eq!(
            book.charge(b, line(1)).await,
            Ok(TabInsert::Existing),
            "same commitment"
        );
        assert_eq!(book.owed("acme"), 600, "not charged twice");
        assert!(book.charged(&[1; 32]).expect("read").is_some());
        drop(book);
        let again = TabBook::open(Some(ledger)).expect("reopened");
        assert_eq!(again.owed("acme"), 600, "restored from the ledger");
    }
}

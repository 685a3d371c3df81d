//! The toll booth's tabs while the gateway runs: what each account owes (its open lines and its
//! unpaid batches, seeded from the ledger at start), holds for requests in flight so concurrent
//! requests never pass a credit limit together, which accounts are overdue or suspended, the Web
//! Bot Auth nonces seen (a nonce is one signed request), and the ledger writes of charged lines,
//! paid batches and suspensions.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use dashmap::DashMap;

use crate::ledger::{Batch, BillingDone, BillingWrite, Ledger, LedgerError, TabInsert, TabLine};
use crate::tally::{Held, Tally};

/// Nonces are remembered this long at least: longer than any accepted signature window.
const NONCE_TTL: Duration = Duration::from_secs(24 * 3600 + 60);
/// Nonces remembered at most (a bounded memory; the oldest go first).
const MAX_NONCES: u64 = 4_000_000;

/// Tabs and nonces.
pub struct TabBook {
    ledger: Option<Arc<Ledger>>,
    /// Owed on open lines and unpaid batches, micro-USD, per account.
    owed: DashMap<Arc<str>, u64>,
    /// Each account's unpaid batches.
    unpaid: DashMap<Arc<str>, Vec<Unpaid>>,
    /// Accounts an operator suspended.
    suspended: DashMap<Arc<str>, ()>,
    /// Requests served but not yet written, per account.
    holds: Tally<Arc<str>>,
    /// Invoices being paid (one payment at a time per batch).
    paying: Tally<Arc<str>>,
    /// nonce → the commitment id of the request that used it.
    nonces: moka::sync::Cache<String, [u8; 32]>,
}

/// A batch still owed.
struct Unpaid {
    id: String,
    total: u64,
    due_ms: u64,
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

/// Why an account's tab takes no more lines now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabClosed {
    /// What it owes and holds, with this price, would pass its credit limit.
    OverLimit,
    /// A batch is unpaid past its due date.
    Overdue,
    /// An operator suspended it.
    Suspended,
    /// Tabs are kept in the ledger, and there is none.
    NoLedger,
}

impl TabClosed {
    /// The reason code in refusals and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::OverLimit => "tab_over_limit",
            Self::Overdue => "tab_overdue",
            Self::Suspended => "tab_suspended",
            Self::NoLedger => "tab_unavailable",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::OverLimit => "this account's tab is over its credit limit",
            Self::Overdue => "this account has a batch unpaid past its due date",
            Self::Suspended => "this account's tab is suspended",
            Self::NoLedger => "tabs are not kept here",
        }
    }
}

/// The nonce was used by another request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceReused;

impl TabBook {
    /// Tabs kept in `ledger` (none: tabs cannot be offered, see `config/toll.rs`); what each
    /// account owes is read from it now.
    pub fn open(ledger: Option<Arc<Ledger>>) -> Result<Self, LedgerError> {
        let book = Self::empty(ledger);
        if let Some(l) = &book.ledger {
            let reader = l.reader();
            for (account, sum) in reader.open_tabs()? {
                *book.owed.entry(Arc::from(account.as_str())).or_insert(0) += sum;
            }
            let unpaid = reader.batches(None, true)?;
            for b in &unpaid {
                *book.owed.entry(Arc::from(b.account.as_str())).or_insert(0) += b.total_micro_usd;
            }
            book.closed(&unpaid);
            for account in reader.suspended_accounts()? {
                book.suspended.insert(Arc::from(account.as_str()), ());
            }
        }
        Ok(book)
    }

    /// Tabs without a ledger: nothing can be charged (tests of the classifier and policy).
    pub fn without_ledger() -> Self {
        Self::empty(None)
    }

    fn empty(ledger: Option<Arc<Ledger>>) -> Self {
        Self {
            ledger,
            owed: DashMap::new(),
            unpaid: DashMap::new(),
            suspended: DashMap::new(),
            holds: Tally::default(),
            paying: Tally::default(),
            nonces: moka::sync::Cache::builder()
                .max_capacity(MAX_NONCES)
                .time_to_live(NONCE_TTL)
                .build(),
        }
    }

    /// The ledger tabs are kept in.
    pub fn ledger(&self) -> Option<&Arc<Ledger>> {
        self.ledger.as_ref()
    }

    /// Counts batches a cutoff closed (or the ledger holds at start) as unpaid. What they owe
    /// was owed already, on their open lines, at start-up included.
    pub fn closed(&self, batches: &[Batch]) {
        for b in batches.iter().filter(|b| !b.is_paid()) {
            let mut unpaid = self
                .unpaid
                .entry(Arc::from(b.account.as_str()))
                .or_default();
            if !unpaid.iter().any(|u| u.id == b.id) {
                unpaid.push(Unpaid {
                    id: b.id.clone(),
                    total: b.total_micro_usd,
                    due_ms: b.due_ms,
                });
            }
        }
    }

    /// Marks batch `id` paid (`by`: how) in the ledger; what it owed is owed no more.
    pub async fn mark_paid(&self, id: &str, by: String) -> Result<BillingDone, LedgerError> {
        let ledger = self.ledger.as_ref().ok_or(LedgerError::Closed)?;
        let done = ledger
            .billing(BillingWrite::Paid {
                id: id.to_string(),
                by,
            })
            .await?;
        for mut entry in self.unpaid.iter_mut() {
            let Some(at) = entry.iter().position(|u| u.id == id) else {
                continue;
            };
            let paid = entry.swap_remove(at);
            if let Some(mut owed) = self.owed.get_mut(entry.key()) {
                *owed = owed.saturating_sub(paid.total);
            }
            break;
        }
        Ok(done)
    }

    /// Suspends or resumes `account` (kept in the ledger).
    pub async fn suspend(&self, account: &str, suspended: bool) -> Result<(), LedgerError> {
        let ledger = self.ledger.as_ref().ok_or(LedgerError::Closed)?;
        let change = BillingWrite::Suspend {
            account: account.to_string(),
            suspended,
        };
        ledger.billing(change).await?;
        if suspended {
            self.suspended.insert(Arc::from(account), ());
        } else {
            self.suspended.remove(account);
        }
        Ok(())
    }

    /// Claims batch `id`'s invoice for one payment; `None` while another is being made.
    pub fn paying(&self, id: &str) -> Option<Held<Arc<str>>> {
        self.paying
            .try_hold(Arc::from(id), U256::from(1), U256::from(1))
    }

    pub fn is_suspended(&self, account: &str) -> bool {
        self.suspended.contains_key(account)
    }

    /// The earliest due date of `account`'s unpaid batches.
    pub fn earliest_due(&self, account: &str) -> Option<u64> {
        self.unpaid.get(account)?.iter().map(|u| u.due_ms).min()
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

    /// What `account` owes on its open lines and unpaid batches, micro-USD.
    pub fn owed(&self, account: &str) -> u64 {
        self.owed.get(account).map_or(0, |v| *v)
    }

    /// Holds `price` of `account`'s credit if the account is in good standing at `now_ms` (not
    /// suspended, nothing overdue) and what it owes, what its requests in flight hold and `price`
    /// together stay within `limit`.
    pub fn hold(
        &self,
        account: &Arc<str>,
        price: u64,
        limit: u64,
        now_ms: u64,
    ) -> Result<TabHold, TabClosed> {
        if self.ledger.is_none() {
            return Err(TabClosed::NoLedger);
        }
        if self.is_suspended(account) {
            return Err(TabClosed::Suspended);
        }
        if self.earliest_due(account).is_some_and(|due| due <= now_ms) {
            return Err(TabClosed::Overdue);
        }
        let room = limit
            .checked_sub(self.owed(account))
            .ok_or(TabClosed::OverLimit)?;
        let held = self
            .holds
            .try_hold(account.clone(), U256::from(price), U256::from(room))
            .ok_or(TabClosed::OverLimit)?;
        Ok(TabHold {
            account: account.clone(),
            price,
            _held: held,
        })
    }

    /// Whether `price` more would be taken now (nothing is held).
    pub fn has_room(&self, account: &Arc<str>, price: u64, limit: u64, now_ms: u64) -> bool {
        self.hold(account, price, limit, now_ms).is_ok()
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

    /// A temporary ledger (kept while its directory lives).
    fn ledger() -> (tempfile::TempDir, Arc<Ledger>) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("l.sqlite");
        let ledger = Ledger::open(crate::ledger::LedgerOptions::new(path)).expect("ledger");
        (dir, Arc::new(ledger))
    }

    /// A line of `acme`'s tab.
    fn line(c: u8, amount_micro_usd: u64) -> TabLine {
        crate::ledger::tests::sample_tab_line(c, "acme", amount_micro_usd, 10)
    }

    #[test]
    fn one_payment_at_a_time_per_invoice() {
        let book = TabBook::without_ledger();
        let first = book.paying("tab-1").expect("free");
        assert!(book.paying("tab-1").is_none(), "taken");
        assert!(book.paying("tab-2").is_some(), "another invoice");
        drop(first);
        assert!(book.paying("tab-1").is_some(), "given back");
    }

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
        let (_dir, ledger) = ledger();
        let book = TabBook::open(Some(ledger.clone())).expect("book");
        let acme: Arc<str> = Arc::from("acme");
        let a = book.hold(&acme, 600, 1000, 0).expect("fits");
        assert_eq!(
            book.hold(&acme, 600, 1000, 0).err(),
            Some(TabClosed::OverLimit),
            "in flight counts"
        );
        assert_eq!(book.charge(a, line(1, 600)).await, Ok(TabInsert::New));
        assert_eq!(book.owed("acme"), 600);
        let b = book
            .hold(&acme, 400, 1000, 0)
            .expect("exactly at the limit");
        assert_eq!(
            book.charge(b, line(1, 600)).await,
            Ok(TabInsert::Existing),
            "same commitment"
        );
        assert_eq!(book.owed("acme"), 600, "not charged twice");
        assert!(book.charged(&[1; 32]).expect("read").is_some());
        drop(book);
        let again = TabBook::open(Some(ledger)).expect("reopened");
        assert_eq!(again.owed("acme"), 600, "restored from the ledger");
    }

    #[tokio::test]
    async fn unpaid_batches_are_owed_until_paid_and_overdue_after_their_due_date() {
        let (_dir, ledger) = ledger();
        let book = TabBook::open(Some(ledger.clone())).expect("book");
        let acme: Arc<str> = Arc::from("acme");
        let hold = book.hold(&acme, 700, 1000, 0).expect("fits");
        book.charge(hold, line(7, 700)).await.expect("charged");
        let close = BillingWrite::Close {
            accounts: vec![("acme".into(), "b1".into())],
            cutoff_ms: 100,
            due_ms: 5_000,
        };
        let BillingDone::Closed(made) = ledger.billing(close).await.expect("closed") else {
            panic!("not closed")
        };
        book.closed(&made);
        assert_eq!(book.owed("acme"), 700, "a closed batch is still owed");
        assert_eq!(
            book.hold(&acme, 400, 1000, 200).err(),
            Some(TabClosed::OverLimit)
        );
        assert_eq!(
            book.hold(&acme, 100, 1000, 5_000).err(),
            Some(TabClosed::Overdue)
        );
        let reopened = TabBook::open(Some(ledger.clone())).expect("reopened");
        assert_eq!(reopened.owed("acme"), 700);
        assert_eq!(reopened.earliest_due("acme"), Some(5_000));
        assert_eq!(
            book.mark_paid("b1", "admin".into()).await,
            Ok(BillingDone::Paid(true))
        );
        assert_eq!(book.owed("acme"), 0);
        assert!(
            book.hold(&acme, 1000, 1000, 9_000).is_ok(),
            "good standing again"
        );
        book.suspend("acme", true).await.expect("suspended");
        assert_eq!(
            book.hold(&acme, 1, 1000, 9_000).err(),
            Some(TabClosed::Suspended)
        );
        assert!(
            TabBook::open(Some(ledger))
                .expect("again")
                .is_suspended("acme")
        );
    }
}

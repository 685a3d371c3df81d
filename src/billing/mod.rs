//! The toll booth's billing, off the request path: at each tab account's cutoff (daily at 00:00
//! UTC unless its `cycle` says otherwise) its open lines close into a batch in the ledger (one
//! transaction for every account due at that cutoff), the batch's invoice is exported as JSONL
//! and CSV, and it is POSTed to the account's webhook, signed, until the webhook accepts it.
//! Batches are paid at their invoice URL (`proxy/invoice.rs`) or marked paid by an operator.
//!
//! Everything here can be run again: a batch's id comes from its account and cutoff, so a second
//! run of a cutoff finds the batch made before; exports are rewritten whole; deliveries carry the
//! batch id as their idempotency key. After a crash (`kill -9` included) the next start exports
//! what is missing and delivers what was not accepted.
//!
//! | file | role |
//! |---|---|
//! | `cycle.rs` | cutoff times and batch ids |
//! | `invoice.rs` | the invoice's JSON, JSONL and CSV, and their atomic writes |
//! | `webhook.rs` | the signed POST, its signature check and backoff |
//! | `service.rs` | the background service that runs all of it every second |

pub mod cycle;
pub mod invoice;
pub mod service;
pub mod webhook;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::admin::Metrics;
use crate::clock::Clock;
use crate::config::reload::LiveConfig;
use crate::ledger::{Batch, BillingDone, BillingWrite, Ledger, LedgerError};
use crate::store::TabBook;
use crate::toll::policy::TabAccount;
use invoice::Invoice;

/// Where an invoice is paid: `<this><batch id>` on any host the gateway serves.
pub const INVOICE_PATH: &str = "/.well-known/x402/tab/";

/// Batch `id`'s invoice URL: absolute under `[server] public_url` when it is set, else the path.
pub fn invoice_url(public_url: Option<&str>, id: &str) -> String {
    format!("{}{INVOICE_PATH}{id}", public_url.unwrap_or(""))
}

/// The billing state shared by the background service and the admin endpoints.
pub struct Billing {
    pub config: Arc<LiveConfig>,
    pub tabs: Arc<TollTabs>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    client: reqwest::Client,
    /// Exports of accounts that name no `export_dir`: `invoices/` beside the ledger.
    default_dir: PathBuf,
    /// The last cutoff closed per account, in Unix seconds.
    closed_through: DashMap<Arc<str>, u64>,
    /// Batches their webhook has not accepted yet → when to try next. Read from the ledger at
    /// start and after each reload (an account may have gained a webhook), added to by cutoffs:
    /// the service's tick reads nothing from the ledger unless a delivery is due.
    pending: DashMap<String, Instant>,
    /// The config version `pending` was last read for.
    pending_for: std::sync::atomic::AtomicU64,
    /// One cutoff or delivery round at a time (the service's tick and the admin's cutoff).
    round: tokio::sync::Mutex<()>,
}

/// The tabs the billing acts on (the toll booth's, shared with the request path).
pub type TollTabs = crate::proxy::toll::TollState;

impl Billing {
    pub fn new(
        config: Arc<LiveConfig>,
        tabs: Arc<TollTabs>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        ledger_path: &Path,
    ) -> Self {
        let default_dir = ledger_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("invoices");
        Self {
            config,
            tabs,
            clock,
            metrics,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            default_dir,
            closed_through: DashMap::new(),
            pending: DashMap::new(),
            pending_for: std::sync::atomic::AtomicU64::new(0),
            round: tokio::sync::Mutex::new(()),
        }
    }

    fn book(&self) -> &TabBook {
        &self.tabs.tabs
    }

    fn ledger(&self) -> Result<&Arc<Ledger>, LedgerError> {
        self.book().ledger().ok_or(LedgerError::Closed)
    }

    /// The configured accounts (none without `[toll_booth]`).
    fn accounts(&self) -> Vec<Arc<TabAccount>> {
        self.config
            .snapshot()
            .toll
            .as_ref()
            .map(|b| b.tabs.clone())
            .unwrap_or_default()
    }

    fn account(&self, name: &str) -> Option<Arc<TabAccount>> {
        self.accounts().into_iter().find(|a| &*a.account == name)
    }

    /// Where `account`'s invoices are written.
    fn export_dir(&self, account: &str) -> PathBuf {
        self.account(account)
            .and_then(|a| a.export_dir.clone())
            .unwrap_or_else(|| self.default_dir.clone())
    }

    /// Closes every account whose cutoff has passed since it was last closed (all of them the
    /// first time: a cutoff missed while the gateway was down is made up).
    pub async fn close_due(&self) -> Result<Vec<Batch>, LedgerError> {
        let now = self.clock.now_secs();
        let mut due: BTreeMap<(u64, u64), Vec<Arc<TabAccount>>> = BTreeMap::new();
        for account in self.accounts() {
            let cutoff = cycle::last_cutoff(now, account.every_secs, account.offset_secs);
            let done = self.closed_through.get(&account.account).map(|v| *v);
            if cutoff > 0 && done.is_none_or(|d| d < cutoff) {
                due.entry((cutoff, account.pay_within_secs))
                    .or_default()
                    .push(account);
            }
        }
        let mut made = Vec::new();
        for ((cutoff, pay_within), accounts) in due {
            let names: Vec<Arc<str>> = accounts.iter().map(|a| a.account.clone()).collect();
            made.extend(self.close(&names, cutoff * 1000, pay_within).await?);
            for name in names {
                self.closed_through.insert(name, cutoff);
            }
        }
        Ok(made)
    }

    /// A cutoff at `at_ms` now, for every account or one (the admin's `POST /tabs/cutoff`).
    pub async fn close_at(
        &self,
        at_ms: u64,
        only: Option<&str>,
    ) -> Result<Vec<Batch>, LedgerError> {
        let mut made = Vec::new();
        let mut by_terms: BTreeMap<u64, Vec<Arc<str>>> = BTreeMap::new();
        for account in self.accounts() {
            if only.is_none_or(|o| o == &*account.account) {
                by_terms
                    .entry(account.pay_within_secs)
                    .or_default()
                    .push(account.account.clone());
            }
        }
        for (pay_within, names) in by_terms {
            made.extend(self.close(&names, at_ms, pay_within).await?);
        }
        Ok(made)
    }

    /// One cutoff write for `names`, then their invoices (the service's tick delivers them).
    async fn close(
        &self,
        names: &[Arc<str>],
        cutoff_ms: u64,
        pay_within_secs: u64,
    ) -> Result<Vec<Batch>, LedgerError> {
        let _round = self.round.lock().await;
        let change = BillingWrite::Close {
            accounts: names
                .iter()
                .map(|n| (n.to_string(), cycle::batch_id(n, cutoff_ms)))
                .collect(),
            cutoff_ms,
            due_ms: cutoff_ms.saturating_add(pay_within_secs.saturating_mul(1000)),
        };
        let BillingDone::Closed(made) = self.ledger()?.billing(change).await? else {
            return Ok(Vec::new());
        };
        self.book().closed(&made);
        for batch in &made {
            let toll = &self.metrics.toll;
            toll.batches.with_label_values(&[&batch.account]).inc();
            toll.billed
                .with_label_values(&[&batch.account])
                .inc_by(batch.total_micro_usd);
            tracing::info!(
                batch = %batch.id,
                account = %batch.account,
                lines = batch.lines,
                total_micro_usd = batch.total_micro_usd,
                "tab batch closed"
            );
            self.export(batch).await;
            self.pending.insert(batch.id.clone(), Instant::now());
        }
        Ok(made)
    }

    /// Writes `batch`'s invoice files (a failure is logged and retried at the next start).
    async fn export(&self, batch: &Batch) {
        let dir = self.export_dir(&batch.account);
        let public_url = self.config.snapshot().public_url.clone();
        let Ok(ledger) = self.ledger().cloned() else {
            return;
        };
        let batch = batch.clone();
        let written = tokio::task::spawn_blocking(move || {
            let lines = ledger
                .reader()
                .batch_lines(&batch.id)
                .map_err(|e| e.to_string())?;
            let invoice = Invoice {
                batch: &batch,
                lines: &lines,
                public_url: public_url.as_deref(),
            };
            invoice::export(&dir, &invoice).map_err(|e| format!("{}: {e}", dir.display()))
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "tab invoice not exported"),
            Err(error) => tracing::error!(%error, "tab invoice export panicked"),
        }
    }

    /// Exports every batch whose files are missing (after a crash between the cutoff and its
    /// export, or a lost export directory).
    pub async fn export_missing(&self) -> Result<(), LedgerError> {
        let batches = self.ledger()?.reader().batches(None, false)?;
        for batch in batches {
            if !invoice::exported(&self.export_dir(&batch.account), &batch.id) {
                self.export(&batch).await;
            }
        }
        Ok(())
    }

    /// Reads the batches their webhook has not accepted from the ledger into `pending`, once
    /// per config version.
    fn read_pending(&self, ledger: &Ledger) -> Result<(), LedgerError> {
        let version = self.config.snapshot().version;
        let seen = std::sync::atomic::Ordering::Relaxed;
        if self.pending_for.swap(version, seen) == version {
            return Ok(());
        }
        for batch in ledger.reader().undelivered_batches()? {
            self.pending.entry(batch.id).or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// Tries every batch its webhook has not accepted whose next attempt is due.
    pub async fn deliver_pending(&self) -> Result<(), LedgerError> {
        let _round = self.round.lock().await;
        let ledger = self.ledger()?.clone();
        self.read_pending(&ledger)?;
        let now = Instant::now();
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|p| *p.value() <= now)
            .map(|p| p.key().clone())
            .collect();
        let public_url = self.config.snapshot().public_url.clone();
        for id in due {
            let batch = ledger.reader().batch(&id)?;
            let hook = batch
                .as_ref()
                .and_then(|b| self.account(&b.account)?.webhook.clone());
            // Delivered, without a webhook, or given up (`GET /tabs/batches` shows it
            // undelivered): nothing more to send.
            let (Some(batch), Some(hook)) = (batch, hook) else {
                self.pending.remove(&id);
                continue;
            };
            if batch.delivered_ms.is_some() || batch.attempts > hook.retries {
                self.pending.remove(&id);
                continue;
            }
            let lines = ledger.reader().batch_lines(&batch.id)?;
            let body = Invoice {
                batch: &batch,
                lines: &lines,
                public_url: public_url.as_deref(),
            }
            .body();
            let attempt = batch.attempts + 1;
            let now = self.clock.now_secs();
            let sent = webhook::post(&self.client, &hook, &batch.id, &body, now, attempt).await;
            let delivered = sent.is_ok();
            self.metrics
                .toll
                .deliveries
                .with_label_values(&[if delivered { "delivered" } else { "failed" }])
                .inc();
            let change = BillingWrite::Delivery {
                id: batch.id.clone(),
                delivered,
            };
            ledger.billing(change).await?;
            match sent {
                Ok(()) => {
                    self.pending.remove(&batch.id);
                    tracing::info!(batch = %batch.id, attempt, "tab batch delivered to its webhook");
                }
                Err(error) => {
                    let wait = webhook::backoff(&hook, attempt);
                    self.pending.insert(batch.id.clone(), Instant::now() + wait);
                    let last = attempt > hook.retries;
                    tracing::warn!(batch = %batch.id, attempt, %error, retry_in = ?wait, last, "tab webhook delivery failed");
                }
            }
        }
        Ok(())
    }

    /// One round of the background service.
    pub async fn tick(&self) {
        if let Err(error) = self.close_due().await {
            tracing::error!(%error, "tab cutoff failed; it is retried");
        }
        if let Err(error) = self.deliver_pending().await {
            tracing::error!(%error, "tab webhook round failed");
        }
    }
}

/// How often the service looks for a cutoff or a delivery due.
pub const TICK: Duration = Duration::from_secs(1);

//! The toll booth's billing, in the ledger's file: batches (a cutoff closes an account's open tab
//! lines into one), their payment and webhook delivery, and suspended accounts.
//!
//! A cutoff is one write: every account's batch is created and its lines moved into it in the
//! same transaction, so a crash leaves either all of it or none of it. A batch's id is derived
//! from the account and the cutoff, and a batch that exists is never reopened: running the same
//! cutoff again changes nothing, and a line that arrives late waits for the next one.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::LedgerError;
use super::schema::{as_sql_integer, unsigned};

/// One closed batch of an account's tab.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Batch {
    pub id: String,
    pub account: String,
    /// Lines created before this (Unix ms) are in it.
    pub cutoff_ms: u64,
    /// Unpaid after this, the account is overdue.
    pub due_ms: u64,
    pub lines: u64,
    pub total_micro_usd: u64,
    pub created_ms: u64,
    pub paid_ms: Option<u64>,
    /// `x402 <transaction>` or `admin: <note>`.
    pub paid_by: Option<String>,
    /// When its webhook accepted it.
    pub delivered_ms: Option<u64>,
    /// Webhook deliveries tried.
    pub attempts: u32,
}

impl Batch {
    pub fn is_paid(&self) -> bool {
        self.paid_ms.is_some()
    }
}

/// A billing write.
#[derive(Debug, Clone)]
pub enum BillingWrite {
    /// Closes each `(account, batch id)`'s open lines created before `cutoff_ms` into that batch.
    Close {
        accounts: Vec<(String, String)>,
        cutoff_ms: u64,
        due_ms: u64,
    },
    /// Marks a batch paid (once: a paid batch keeps its first payment).
    Paid { id: String, by: String },
    /// One more webhook attempt; `delivered` when it was accepted.
    Delivery { id: String, delivered: bool },
    /// Suspends or resumes an account.
    Suspend { account: String, suspended: bool },
}

/// What a billing write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingDone {
    /// The batches created (none for accounts without open lines or already closed).
    Closed(Vec<Batch>),
    /// Whether the batch was newly marked paid (`false`: it was paid already).
    Paid(bool),
    /// The batch is not in the ledger.
    NoSuchBatch,
    Done,
}

pub(super) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS tab_batches (
    id           TEXT    NOT NULL PRIMARY KEY,
    account      TEXT    NOT NULL,
    cutoff_ms    INTEGER NOT NULL,
    due_ms       INTEGER NOT NULL,
    lines        INTEGER NOT NULL,
    total        INTEGER NOT NULL CHECK (total >= 0),
    created_ms   INTEGER NOT NULL,
    paid_ms      INTEGER,
    paid_by      TEXT,
    delivered_ms INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tab_batches_account ON tab_batches (account, cutoff_ms);
CREATE TABLE IF NOT EXISTS tab_accounts (
    account    TEXT    NOT NULL PRIMARY KEY,
    suspended  INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
";

const COLUMNS: &str = "id, account, cutoff_ms, due_ms, lines, total, created_ms, paid_ms, \
                       paid_by, delivered_ms, attempts";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Batch> {
    Ok(Batch {
        id: row.get(0)?,
        account: row.get(1)?,
        cutoff_ms: unsigned(row, 2)?,
        due_ms: unsigned(row, 3)?,
        lines: unsigned(row, 4)?,
        total_micro_usd: unsigned(row, 5)?,
        created_ms: unsigned(row, 6)?,
        paid_ms: row
            .get::<_, Option<i64>>(7)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        paid_by: row.get(8)?,
        delivered_ms: row
            .get::<_, Option<i64>>(9)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        attempts: u32::try_from(row.get::<_, i64>(10)?).unwrap_or(0),
    })
}

pub(super) fn write(
    conn: &Connection,
    change: &BillingWrite,
    now_ms: u64,
) -> Result<BillingDone, LedgerError> {
    match change {
        BillingWrite::Close {
            accounts,
            cutoff_ms,
            due_ms,
        } => {
            let mut made = Vec::new();
            for (account, id) in accounts {
                if let Some(b) = close(conn, account, id, *cutoff_ms, *due_ms, now_ms)? {
                    made.push(b);
                }
            }
            Ok(BillingDone::Closed(made))
        }
        BillingWrite::Paid { id, by } => {
            let Some(batch) = one(conn, id)? else {
                return Ok(BillingDone::NoSuchBatch);
            };
            if batch.is_paid() {
                return Ok(BillingDone::Paid(false));
            }
            conn.prepare_cached("UPDATE tab_batches SET paid_ms = ?2, paid_by = ?3 WHERE id = ?1")?
                .execute(params![id, as_sql_integer(now_ms), by])?;
            Ok(BillingDone::Paid(true))
        }
        BillingWrite::Delivery { id, delivered } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE tab_batches SET attempts = attempts + 1, \
                     delivered_ms = CASE WHEN ?2 THEN coalesce(delivered_ms, ?3) ELSE delivered_ms END \
                     WHERE id = ?1",
                )?
                .execute(params![id, delivered, as_sql_integer(now_ms)])?;
            Ok(if changed == 0 {
                BillingDone::NoSuchBatch
            } else {
                BillingDone::Done
            })
        }
        BillingWrite::Suspend { account, suspended } => {
            conn.prepare_cached(
                "INSERT INTO tab_accounts (account, suspended, updated_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account) DO UPDATE SET suspended = ?2, updated_ms = ?3",
            )?
            .execute(params![account, suspended, as_sql_integer(now_ms)])?;
            Ok(BillingDone::Done)
        }
    }
}

/// One account's batch at one cutoff: `None` when it exists already or there is nothing open.
fn close(
    conn: &Connection,
    account: &str,
    id: &str,
    cutoff_ms: u64,
    due_ms: u64,
    now_ms: u64,
) -> Result<Option<Batch>, LedgerError> {
    if one(conn, id)?.is_some() {
        return Ok(None);
    }
    let (lines, total): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(amount), 0) FROM tab_lines \
             WHERE account = ?1 AND batch IS NULL AND created_ms < ?2",
        )?
        .query_row(params![account, as_sql_integer(cutoff_ms)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    if lines == 0 {
        return Ok(None);
    }
    // Nothing to pay: paid when made.
    let paid = (total == 0).then_some(as_sql_integer(now_ms));
    conn.prepare_cached(
        "INSERT INTO tab_batches (id, account, cutoff_ms, due_ms, lines, total, created_ms, \
         paid_ms, paid_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        id,
        account,
        as_sql_integer(cutoff_ms),
        as_sql_integer(due_ms),
        lines,
        total,
        as_sql_integer(now_ms),
        paid,
        paid.map(|_| "nothing owed"),
    ])?;
    conn.prepare_cached(
        "UPDATE tab_lines SET batch = ?3 WHERE account = ?1 AND batch IS NULL AND created_ms < ?2",
    )?
    .execute(params![account, as_sql_integer(cutoff_ms), id])?;
    one(conn, id)
}

/// The batch with this id.
pub(super) fn one(conn: &Connection, id: &str) -> Result<Option<Batch>, LedgerError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tab_batches WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Batches, oldest cutoff first: of one account, or all; unpaid ones only if asked.
pub(super) fn list(
    conn: &Connection,
    account: Option<&str>,
    unpaid_only: bool,
) -> Result<Vec<Batch>, LedgerError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tab_batches WHERE (?1 IS NULL OR account = ?1) \
         AND (NOT ?2 OR paid_ms IS NULL) ORDER BY cutoff_ms ASC, id ASC"
    ))?;
    let rows = statement.query_map(params![account, unpaid_only], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Batches whose webhook has not accepted them, oldest first.
pub(super) fn undelivered(conn: &Connection) -> Result<Vec<Batch>, LedgerError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tab_batches WHERE delivered_ms IS NULL ORDER BY cutoff_ms, id"
    ))?;
    let rows = statement.query_map([], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Accounts suspended by an operator.
pub(super) fn suspended(conn: &Connection) -> Result<Vec<String>, LedgerError> {
    let mut statement =
        conn.prepare_cached("SELECT account FROM tab_accounts WHERE suspended ORDER BY account")?;
    let rows = statement.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

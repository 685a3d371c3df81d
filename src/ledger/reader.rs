//! [`LedgerReader`]: the read API, on its own read-only connection.
//!
//! Calls are synchronous and short; from async code run them in `spawn_blocking`. WAL readers
//! see every committed write and neither block nor wait for the writer.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::access::AccessRow;
use super::batch::Batch;
use super::error::LedgerError;
use super::record::{Filter, Record, Summary};
use super::schema::{RECORD_COLUMNS, as_sql_integer, open_reader, record_from_row};
use super::state::State;
use super::tab::TabLine;

/// Read access to a ledger file: held by a [`super::Ledger`], or opened alone (the CLI).
pub struct LedgerReader {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for LedgerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerReader").finish_non_exhaustive()
    }
}

impl LedgerReader {
    /// Opens an existing ledger file read-only.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Ok(LedgerReader {
            conn: Mutex::new(open_reader(path)?),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done state: reads only.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn select(&self, clause: &str, values: Vec<Value>) -> Result<Vec<Record>, LedgerError> {
        let conn = self.conn();
        let mut statement =
            conn.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM payments {clause}"))?;
        let rows = statement.query_map(params_from_iter(values), record_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every row still needing work ([`State::is_open`]), oldest first: what start-up resumes.
    pub fn open_records(&self) -> Result<Vec<Record>, LedgerError> {
        let open: Vec<Value> = State::ALL
            .into_iter()
            .filter(|state| state.is_open())
            .map(|state| Value::Text(state.as_str().to_owned()))
            .collect();
        let placeholders = vec!["?"; open.len()].join(", ");
        self.select(
            &format!("WHERE state IN ({placeholders}) ORDER BY created_ms ASC, id ASC"),
            open,
        )
    }

    /// (id, valid_before) of every row not `released` whose authorization is still valid after
    /// `now_secs`: the payments a restarted replay guard must keep refusing.
    pub fn live_ids(&self, now_secs: u64) -> Result<Vec<(String, u64)>, LedgerError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT id, valid_before FROM payments WHERE valid_before > ?1 AND state <> ?2",
        )?;
        let rows = statement.query_map(
            rusqlite::params![as_sql_integer(now_secs), State::Released],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Result<Option<Record>, LedgerError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM payments WHERE id = ?1"
        ))?;
        Ok(statement.query_row([id], record_from_row).optional()?)
    }

    /// Access-state rows alive at `now`.
    pub fn access_rows(&self, now_secs: u64) -> Result<Vec<AccessRow>, LedgerError> {
        super::access::live(&self.conn(), now_secs)
    }

    /// The tab line of a commitment id.
    pub fn tab_line(&self, commitment: &str) -> Result<Option<TabLine>, LedgerError> {
        super::tab::line(&self.conn(), commitment)
    }

    /// Each account's open tab, in micro-USD.
    pub fn open_tabs(&self) -> Result<Vec<(String, u64)>, LedgerError> {
        super::tab::open_balances(&self.conn())
    }

    /// The lines closed into `batch`, oldest first.
    pub fn batch_lines(&self, batch: &str) -> Result<Vec<TabLine>, LedgerError> {
        super::tab::in_batch(&self.conn(), batch)
    }

    /// The batch with this id.
    pub fn batch(&self, id: &str) -> Result<Option<Batch>, LedgerError> {
        super::batch::one(&self.conn(), id)
    }

    /// Batches, oldest cutoff first: of `account`, or all; unpaid only if asked.
    pub fn batches(
        &self,
        account: Option<&str>,
        unpaid_only: bool,
    ) -> Result<Vec<Batch>, LedgerError> {
        super::batch::list(&self.conn(), account, unpaid_only)
    }

    /// Batches their webhook has not accepted yet, oldest first.
    pub fn undelivered_batches(&self) -> Result<Vec<Batch>, LedgerError> {
        super::batch::undelivered(&self.conn())
    }

    /// Accounts an operator suspended.
    pub fn suspended_accounts(&self) -> Result<Vec<String>, LedgerError> {
        super::batch::suspended(&self.conn())
    }

    /// Whether `payer` has a payment on `route` accepted at or after `since_ms` that was charged
    /// or is owed (settled, settling, forwarded under `background`, or paid but not delivered).
    pub fn has_paid(&self, payer: &str, route: &str, since_ms: u64) -> Result<bool, LedgerError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT 1 FROM payments WHERE payer = ?1 COLLATE NOCASE AND route = ?2 \
             AND created_ms >= ?3 \
             AND state IN ('forwarded', 'settling', 'settled', 'paid_not_delivered') LIMIT 1",
        )?;
        let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
        Ok(statement
            .query_row(rusqlite::params![payer, route, since], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The records matching `filter`, newest first.
    pub fn query(&self, filter: &Filter) -> Result<Vec<Record>, LedgerError> {
        let mut conditions: Vec<&str> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(route) = &filter.route {
            conditions.push("route = ?");
            values.push(Value::Text(route.clone()));
        }
        if let Some(payer) = &filter.payer {
            conditions.push("payer = ? COLLATE NOCASE");
            values.push(Value::Text(payer.clone()));
        }
        if let Some(state) = filter.state {
            conditions.push("state = ?");
            values.push(Value::Text(state.as_str().to_owned()));
        }
        if let Some(since_ms) = filter.since_ms {
            conditions.push("created_ms >= ?");
            values.push(Value::Integer(as_sql_integer(since_ms)));
        }
        if let Some(until_ms) = filter.until_ms {
            conditions.push("created_ms < ?");
            values.push(Value::Integer(as_sql_integer(until_ms)));
        }
        let limit = filter
            .limit
            .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        values.push(Value::Integer(limit));
        let mut clause = String::new();
        if !conditions.is_empty() {
            clause = format!("WHERE {} ", conditions.join(" AND "));
        }
        clause.push_str("ORDER BY created_ms DESC, id DESC LIMIT ?");
        self.select(&clause, values)
    }

    /// Rows per state and the unsettled value, for metrics.
    pub fn summary(&self) -> Result<Summary, LedgerError> {
        let conn = self.conn();
        let mut counts = State::ALL.map(|state| (state, 0u64));
        let mut per_state =
            conn.prepare_cached("SELECT state, count(*) FROM payments GROUP BY state")?;
        let rows = per_state.query_map([], |row| {
            Ok((row.get::<_, State>(0)?, row.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (state, count) = row?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = count;
            }
        }
        // Summed here, not with SQL SUM: i64 overflows are an error there, and amounts too large
        // for `amount_units` (stored NULL) still count, from their text.
        let mut unsettled = conn
            .prepare_cached("SELECT amount_units, amount FROM payments WHERE state IN (?1, ?2)")?;
        let amounts = unsettled.query_map(
            rusqlite::params![State::Forwarded, State::Settling],
            |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, String>(1)?)),
        )?;
        let mut unsettled_units: u128 = 0;
        for amount in amounts {
            let units = match amount? {
                (Some(units), _) => u128::try_from(units).unwrap_or(0),
                (None, text) => text.parse().unwrap_or(u128::MAX),
            };
            unsettled_units = unsettled_units.saturating_add(units);
        }
        Ok(Summary {
            counts,
            unsettled_units,
        })
    }
}

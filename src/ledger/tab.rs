//! The toll booth's deferred tabs, in the ledger's file: one line per charged crawler request,
//! keyed by its commitment id (the digest of the signed request), so the same signed request
//! again is never a second line. Lines are open until a cutoff closes them into a batch.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::LedgerError;
use super::schema::unsigned;

/// One charged request on an account's tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabLine {
    /// Hex SHA-256 of the signed request (`toll::signature::Signature::commitment_id`).
    pub commitment: String,
    pub account: String,
    pub crawler: String,
    pub route: String,
    pub method: String,
    pub url: String,
    /// The origin's status (2xx: only those are charged).
    pub status: u16,
    pub amount_micro_usd: u64,
    pub created_ms: u64,
    /// The batch it was closed into, `None` while open.
    pub batch: Option<String>,
}

/// Whether a line was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabInsert {
    New,
    /// Its commitment id was already on the tab: the same signed request, not charged again.
    Existing,
}

pub(super) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS tab_lines (
    commitment TEXT    NOT NULL PRIMARY KEY CHECK (length(commitment) = 64),
    account    TEXT    NOT NULL,
    crawler    TEXT    NOT NULL,
    route      TEXT    NOT NULL,
    method     TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    created_ms INTEGER NOT NULL,
    batch      TEXT
);
CREATE INDEX IF NOT EXISTS tab_lines_account ON tab_lines (account, batch);
";

pub(super) fn insert(conn: &Connection, line: &TabLine) -> Result<TabInsert, LedgerError> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO tab_lines (commitment, account, crawler, route, method, url, status, \
             amount, created_ms, batch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL) \
             ON CONFLICT (commitment) DO NOTHING",
        )?
        .execute(params![
            line.commitment,
            line.account,
            line.crawler,
            line.route,
            line.method,
            line.url,
            line.status,
            i64::try_from(line.amount_micro_usd).unwrap_or(i64::MAX),
            i64::try_from(line.created_ms).unwrap_or(i64::MAX),
        ])?;
    Ok(if changed == 1 {
        TabInsert::New
    } else {
        TabInsert::Existing
    })
}

const LINE_COLUMNS: &str = "commitment, account, crawler, route, method, url, status, amount, \
                            created_ms, batch";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TabLine> {
    Ok(TabLine {
        commitment: row.get(0)?,
        account: row.get(1)?,
        crawler: row.get(2)?,
        route: row.get(3)?,
        method: row.get(4)?,
        url: row.get(5)?,
        status: row.get(6)?,
        amount_micro_usd: unsigned(row, 7)?,
        created_ms: unsigned(row, 8)?,
        batch: row.get(9)?,
    })
}

/// The line with this commitment id.
pub(super) fn line(conn: &Connection, commitment: &str) -> Result<Option<TabLine>, LedgerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {LINE_COLUMNS} FROM tab_lines WHERE commitment = ?1"
        ))?
        .query_row([commitment], from_row)
        .optional()?)
}

/// The lines closed into `batch`, oldest first.
pub(super) fn in_batch(conn: &Connection, batch: &str) -> Result<Vec<TabLine>, LedgerError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {LINE_COLUMNS} FROM tab_lines WHERE batch = ?1 ORDER BY created_ms, commitment"
    ))?;
    let rows = statement.query_map([batch], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// What each account owes on open lines, in micro-USD.
pub(super) fn open_balances(conn: &Connection) -> Result<Vec<(String, u64)>, LedgerError> {
    let mut statement = conn.prepare_cached(
        "SELECT account, SUM(amount) FROM tab_lines WHERE batch IS NULL GROUP BY account",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (account, sum) = row?;
        out.push((account, u64::try_from(sum).unwrap_or(0)));
    }
    Ok(out)
}

//! The table, its indexes, the connection pragmas, and the mapping between a row and a [`Record`].
//!
//! Plain SQL kept close to what PostgreSQL accepts: `ON CONFLICT`, `CHECK`, integer columns. The
//! SQLite-only parts are the pragmas and the `COLLATE NOCASE` payer index (`lower(payer)` there).

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, Row};

use super::error::LedgerError;
use super::record::Record;
use super::state::State;

/// The layout this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS payments (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    chain_id     INTEGER NOT NULL,
    asset        TEXT    NOT NULL,
    payer        TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    route        TEXT    NOT NULL,
    network      TEXT    NOT NULL,
    amount       TEXT    NOT NULL,
    amount_units INTEGER,
    policy       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    payload      TEXT    NOT NULL,
    requirements TEXT    NOT NULL,
    valid_before INTEGER NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('reserved', 'forwarded', 'settling',
                          'settled', 'failed', 'released', 'paid_not_delivered')),
    tx_hash      TEXT,
    reason       TEXT,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS payments_state ON payments (state);
CREATE INDEX IF NOT EXISTS payments_payer_route ON payments (payer COLLATE NOCASE, route, created_ms);
CREATE INDEX IF NOT EXISTS payments_valid_before ON payments (valid_before);
";

/// From layout 1: its separate payer, route and creation-time indexes go (one composite index
/// serves the pass check and the payer filter; every index is one more page written per
/// commit on the request path). The CLI's route-only and time-only filters scan.
const FROM_VERSION_1: &str = "
DROP INDEX IF EXISTS payments_payer;
DROP INDEX IF EXISTS payments_route;
DROP INDEX IF EXISTS payments_created;
";

/// The columns of a [`Record`], in the order [`record_from_row`] reads them.
pub(super) const RECORD_COLUMNS: &str = "id, chain_id, asset, payer, nonce, route, network, amount, \
     policy, version, payload, requirements, valid_before, state, tx_hash, reason, created_ms, \
     updated_ms, attempts";

/// A `u64` (a time, an amount) for an INTEGER column (SQLite integers are signed).
pub(super) fn as_sql_integer(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// An INTEGER column read back as a `u64` (never negative here; 0 if it were).
pub(super) fn unsigned(row: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
}

/// Opens (creating if missing) the database for writing: WAL, `synchronous=FULL` (or `NORMAL`
/// when `sync_every_commit` is false), the size limit, and the schema.
pub(super) fn open_writer(
    path: &Path,
    max_size_bytes: Option<u64>,
    sync_every_commit: bool,
) -> Result<Connection, LedgerError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::Io(format!(
            "journal_mode stays {mode}, not wal"
        )));
    }
    // FULL: durable at commit, the WAL is fsynced by every COMMIT (survives power loss).
    // NORMAL: a COMMIT is in the OS before it returns (survives the process being killed); only
    // checkpoints fsync, so an OS crash may lose the last commits.
    let level = if sync_every_commit { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", level)?;
    // Checkpoints (copying the WAL back into the file, with its fsyncs) run on their own thread
    // (`checkpoint.rs`), never in a commit on the request path.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // After a checkpoint starts the WAL over, the file is trimmed to this (`checkpoint.rs`).
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // Statement journals in memory, not temp files created and unlinked under load.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    if let Some(max_bytes) = max_size_bytes {
        limit_size(&conn, max_bytes)?;
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(LedgerError::Corrupt(format!(
            "schema version {version} is newer than this build reads ({SCHEMA_VERSION})"
        )));
    }
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {FROM_VERSION_1} {CREATE_SCHEMA} {} {} {} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
        super::access::CREATE,
        super::tab::CREATE,
        super::batch::CREATE
    ))
    .inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })?;
    Ok(conn)
}

/// Caps the file at `max_bytes` (rounded down to whole pages): writes past it fail with
/// SQLITE_FULL. Never below the current size (SQLite keeps the current page count then).
fn limit_size(conn: &Connection, max_bytes: u64) -> Result<(), LedgerError> {
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let page_size = u64::try_from(page_size).unwrap_or(4096).max(1);
    let pages = i64::try_from(max_bytes / page_size)
        .unwrap_or(i64::MAX)
        .max(1);
    let applied: i64 =
        conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get(0))?;
    if applied > pages {
        tracing::warn!(
            max_size_bytes = max_bytes,
            current_pages = applied,
            "payment ledger is already larger than max_size_bytes; it will not grow"
        );
    }
    Ok(())
}

/// Opens an existing ledger read-only (works while a gateway writes it: WAL readers do not
/// block the writer).
/// A connection for the checkpoint thread.
pub(super) fn open_checkpointer(path: &Path) -> Result<Connection, LedgerError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

pub(super) fn open_reader(path: &Path) -> Result<Connection, LedgerError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'payments'",
        [],
        |row| row.get(0),
    )?;
    if tables == 0 {
        return Err(LedgerError::Corrupt(format!(
            "{} has no payments table: not a payment ledger",
            path.display()
        )));
    }
    Ok(conn)
}

/// Reads a row selected with [`RECORD_COLUMNS`].
pub(super) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: row.get(0)?,
        chain_id: row.get(1)?,
        asset: row.get(2)?,
        payer: row.get(3)?,
        nonce: row.get(4)?,
        route: row.get(5)?,
        network: row.get(6)?,
        amount: row.get(7)?,
        policy: row.get(8)?,
        version: row.get(9)?,
        payload: row.get(10)?,
        requirements: row.get(11)?,
        valid_before: row.get(12)?,
        state: row.get(13)?,
        transaction: row.get(14)?,
        reason: row.get(15)?,
        created_ms: row.get(16)?,
        updated_ms: row.get(17)?,
        attempts: row.get(18)?,
    })
}

impl ToSql for State {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(
            self.as_str().as_bytes(),
        )))
    }
}

impl FromSql for State {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|error| FromSqlError::Other(Box::new(error)))
    }
}

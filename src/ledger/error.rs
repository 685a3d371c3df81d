//! [`LedgerError`]: what a ledger operation can fail with, mapped from SQLite's result codes.
//!
//! Messages name the operation and SQLite's reason, never a record's payload, payer or amount:
//! statements bind values as parameters, and SQLite's messages do not echo bound values.

use rusqlite::ErrorCode;

/// A ledger failure. `Clone` so one failed commit can answer every command of its batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The database is full: the disk, or the operator's `max_size_bytes` (SQLITE_FULL).
    #[error("payment ledger is full (disk full or max_size_bytes reached)")]
    Full,
    /// An I/O or other SQLite failure.
    #[error("payment ledger I/O error: {0}")]
    Io(String),
    /// The writer thread is gone (the ledger was shut down or its thread panicked).
    #[error("payment ledger writer is closed")]
    Closed,
    /// The file is not a ledger, is damaged, or holds a row this version cannot read.
    #[error("payment ledger is corrupt: {0}")]
    Corrupt(String),
    /// A record was refused before writing: a malformed field or a violated constraint.
    #[error("payment ledger refused a record: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for LedgerError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
                ErrorCode::DiskFull => LedgerError::Full,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    LedgerError::Corrupt(error.to_string())
                }
                ErrorCode::ConstraintViolation => LedgerError::Invalid(error.to_string()),
                _ => LedgerError::Io(error.to_string()),
            },
            // A column of an unexpected type: the file was not written by this ledger.
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => {
                LedgerError::Corrupt(error.to_string())
            }
            _ => LedgerError::Io(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn maps_sqlite_codes() {
        assert_eq!(
            LedgerError::from(failure(rusqlite::ffi::SQLITE_FULL)),
            LedgerError::Full
        );
        assert!(matches!(
            LedgerError::from(failure(rusqlite::ffi::SQLITE_CORRUPT)),
            LedgerError::Corrupt(_)
        ));
        assert!(matches!(
            LedgerError::from(failure(rusqlite::ffi::SQLITE_NOTADB)),
            LedgerError::Corrupt(_)
        ));
        assert!(matches!(
            LedgerError::from(failure(rusqlite::ffi::SQLITE_CONSTRAINT)),
            LedgerError::Invalid(_)
        ));
        assert!(matches!(
            LedgerError::from(failure(rusqlite::ffi::SQLITE_IOERR)),
            LedgerError::Io(_)
        ));
    }
}

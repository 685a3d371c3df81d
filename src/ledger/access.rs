//! What access without a fresh payment must keep across a restart, in the ledger's file: pass
//! uses and revocations, redeemed sign-in nonces, and payment identifiers' first outcomes. One
//! row per key, replaced on every change (writes are queued in order, so the last one wins), and
//! deleted once expired.

use rusqlite::{Connection, params};

use super::error::LedgerError;

/// What a row remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    Pass,
    Nonce,
    PaymentId,
}

impl AccessKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Nonce => "nonce",
            Self::PaymentId => "payment_id",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "pass" => Some(Self::Pass),
            "nonce" => Some(Self::Nonce),
            "payment_id" => Some(Self::PaymentId),
            _ => None,
        }
    }
}

/// One remembered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    pub key: [u8; 16],
    pub kind: AccessKind,
    /// Uses taken (passes).
    pub used: u32,
    pub revoked: bool,
    /// A payment identifier's fingerprint, payer and first outcome (JSON).
    pub data: Option<String>,
    pub expires_at: u64,
}

/// A queued change.
#[derive(Debug)]
pub(super) enum AccessWrite {
    Put(AccessRow),
    /// Delete every row that expired before this second.
    Sweep(u64),
}

pub(super) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS access_state (
    key        TEXT    NOT NULL PRIMARY KEY CHECK (length(key) = 32),
    kind       TEXT    NOT NULL CHECK (kind IN ('pass', 'nonce', 'payment_id')),
    used       INTEGER NOT NULL DEFAULT 0,
    revoked    INTEGER NOT NULL DEFAULT 0,
    data       TEXT,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_state_expires ON access_state (expires_at);
";

pub(super) fn write(conn: &Connection, change: &AccessWrite) -> Result<(), LedgerError> {
    match change {
        AccessWrite::Put(row) => {
            conn.prepare_cached(
                "INSERT INTO access_state (key, kind, used, revoked, data, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET \
                 kind = excluded.kind, used = excluded.used, revoked = excluded.revoked, \
                 data = excluded.data, expires_at = excluded.expires_at",
            )?
            .execute(params![
                alloy_primitives::hex::encode(row.key),
                row.kind.as_str(),
                row.used,
                row.revoked,
                row.data,
                i64::try_from(row.expires_at).unwrap_or(i64::MAX),
            ])?;
        }
        AccessWrite::Sweep(now) => {
            conn.prepare_cached("DELETE FROM access_state WHERE expires_at < ?1")?
                .execute([i64::try_from(*now).unwrap_or(i64::MAX)])?;
        }
    }
    Ok(())
}

/// Every row that has not expired at `now`.
pub(super) fn live(conn: &Connection, now: u64) -> Result<Vec<AccessRow>, LedgerError> {
    let mut statement = conn.prepare_cached(
        "SELECT key, kind, used, revoked, data, expires_at FROM access_state WHERE expires_at >= ?1",
    )?;
    let rows = statement.query_map([i64::try_from(now).unwrap_or(i64::MAX)], |row| {
        let key: String = row.get(0)?;
        let kind: String = row.get(1)?;
        Ok((
            key,
            kind,
            row.get::<_, u32>(2)?,
            row.get::<_, bool>(3)?,
            row.get(4)?,
            row.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, kind, used, revoked, data, expires_at) = row?;
        let mut raw = [0u8; 16];
        let (Ok(()), Some(kind)) = (
            alloy_primitives::hex::decode_to_slice(&key, &mut raw),
            AccessKind::parse(&kind),
        ) else {
            continue;
        };
        out.push(AccessRow {
            key: raw,
            kind,
            used,
            revoked,
            data,
            expires_at: u64::try_from(expires_at).unwrap_or(0),
        });
    }
    Ok(out)
}

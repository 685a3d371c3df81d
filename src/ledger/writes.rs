//! The SQL of each write command, run by the writer thread inside its open transaction:
//! insert (reusing a `released` row on request) and one state transition.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::LedgerError;
use super::record::{Inserted, Moved, Record};
use super::state::State;
use super::writer::MoveRequest;

const INSERT: &str = "INSERT INTO payments (id, chain_id, asset, payer, nonce, route, network, \
     amount, amount_units, policy, version, payload, requirements, valid_before, state, tx_hash, \
     reason, created_ms, updated_ms, attempts) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
     ON CONFLICT (id) DO NOTHING";

/// Writes `record` if its id is free; else answers the existing state, first replacing a
/// `released` row when `reuse_released`.
pub(super) fn insert(
    conn: &Connection,
    record: &Record,
    reuse_released: bool,
) -> Result<Inserted, LedgerError> {
    if insert_row(conn, record)? {
        return Ok(Inserted::New);
    }
    let existing: State = conn
        .prepare_cached("SELECT state FROM payments WHERE id = ?1")?
        .query_row([&record.id], |row| row.get(0))?;
    if existing == State::Released && reuse_released {
        conn.prepare_cached("DELETE FROM payments WHERE id = ?1")?
            .execute([&record.id])?;
        if insert_row(conn, record)? {
            return Ok(Inserted::New);
        }
    }
    Ok(Inserted::Exists(existing))
}

/// Inserts `record` unless its id is taken; whether it did.
fn insert_row(conn: &Connection, record: &Record) -> Result<bool, LedgerError> {
    let written = conn.prepare_cached(INSERT)?.execute(params![
        record.id,
        record.chain_id,
        record.asset,
        record.payer,
        record.nonce,
        record.route,
        record.network,
        record.amount,
        record.amount_units(),
        record.policy,
        record.version,
        record.payload,
        record.requirements,
        record.valid_before,
        record.state,
        record.transaction,
        record.reason,
        record.created_ms,
        record.updated_ms,
        record.attempts,
    ])?;
    Ok(written == 1)
}

/// Applies one move if the machine allows it from the row's current state; `None` fields keep
/// the stored transaction and reason.
pub(super) fn transition(
    conn: &Connection,
    request: &MoveRequest,
    now_ms: u64,
) -> Result<Moved, LedgerError> {
    let current: Option<State> = conn
        .prepare_cached("SELECT state FROM payments WHERE id = ?1")?
        .query_row([&request.id], |row| row.get(0))
        .optional()?;
    let Some(current) = current else {
        return Ok(Moved::Missing);
    };
    if !current.can_move_to(request.to) {
        return Ok(Moved::Refused(current));
    }
    let attempt = u32::from(request.to == State::Settling);
    conn.prepare_cached(
        "UPDATE payments SET state = ?2, tx_hash = COALESCE(?3, tx_hash), \
         reason = COALESCE(?4, reason), updated_ms = ?5, attempts = attempts + ?6 WHERE id = ?1",
    )?
    .execute(params![
        request.id,
        request.to,
        request.transaction,
        request.reason,
        now_ms,
        attempt
    ])?;
    Ok(Moved::Done)
}

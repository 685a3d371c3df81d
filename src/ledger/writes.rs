//! The SQL of each write command, run by the writer thread inside its open transaction:
//! insert (reusing a `released` row on request) and one state transition. Each is a single
//! write statement (a transition reads, then updates one row), so each is atomic on its own:
//! a failing statement undoes only itself.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::LedgerError;
use super::record::{Inserted, Moved, Record};
use super::state::State;
use super::writer::MoveRequest;

/// The insert, followed by what to do when the id is taken.
macro_rules! insert_sql {
    ($on_conflict:literal) => {
        concat!(
            "INSERT INTO payments (id, chain_id, asset, payer, nonce, route, network, amount, \
             amount_units, policy, version, payload, requirements, valid_before, state, tx_hash, \
             reason, created_ms, updated_ms, attempts) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
             ?18, ?19, ?20) ON CONFLICT (id) ",
            $on_conflict
        )
    };
}

/// A taken id keeps its row.
const INSERT: &str = insert_sql!("DO NOTHING");

/// A taken id whose row is `released` (nothing was charged) gets the new payment in its place.
const INSERT_OR_REUSE_RELEASED: &str = insert_sql!(
    "DO UPDATE SET chain_id = excluded.chain_id, asset = excluded.asset, payer = excluded.payer, \
     nonce = excluded.nonce, route = excluded.route, network = excluded.network, \
     amount = excluded.amount, amount_units = excluded.amount_units, policy = excluded.policy, \
     version = excluded.version, payload = excluded.payload, requirements = excluded.requirements, \
     valid_before = excluded.valid_before, state = excluded.state, tx_hash = excluded.tx_hash, \
     reason = excluded.reason, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms, \
     attempts = excluded.attempts WHERE payments.state = 'released'"
);

/// Writes `record` if its id is free (or, with `reuse_released`, held by a `released` row);
/// else answers the existing state. One statement, so atomic without a savepoint of its own.
pub(super) fn insert(
    conn: &Connection,
    record: &Record,
    reuse_released: bool,
) -> Result<Inserted, LedgerError> {
    let sql = if reuse_released {
        INSERT_OR_REUSE_RELEASED
    } else {
        INSERT
    };
    let written = conn.prepare_cached(sql)?.execute(params![
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
    if written == 1 {
        return Ok(Inserted::New);
    }
    let existing: State = conn
        .prepare_cached("SELECT state FROM payments WHERE id = ?1")?
        .query_row([&record.id], |row| row.get(0))?;
    Ok(Inserted::Exists(existing))
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

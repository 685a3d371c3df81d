//! The writer thread: the one owner of the write connection, and group commit.
//!
//! It blocks for the first [`Command`], drains whatever else is queued (up to `max_batch`), runs
//! them all in one transaction with a SAVEPOINT each (so one failing command does not fail the
//! others), commits once (one fsync), and only then answers each command. If the COMMIT fails,
//! every command that was to be committed gets that error. Without group commit each command is
//! its own transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::error::LedgerError;
use super::record::{Inserted, Moved, Record};
use super::state::State;

/// One write, and where its answer goes.
pub(super) enum Command {
    Insert {
        record: Record,
        /// Replace an existing `released` row instead of answering `Exists(Released)`.
        reuse_released: bool,
        reply: oneshot::Sender<Result<Inserted, LedgerError>>,
    },
    Transition {
        moves: Vec<MoveRequest>,
        reply: TransitionReply,
    },
}

/// One requested state change.
pub(super) struct MoveRequest {
    pub id: String,
    pub to: State,
    pub transaction: Option<String>,
    pub reason: Option<String>,
}

/// Who waits for a transition command's answer.
pub(super) enum TransitionReply {
    One(oneshot::Sender<Result<Moved, LedgerError>>),
    Many(oneshot::Sender<Result<Vec<Moved>, LedgerError>>),
    /// Fire and forget: failures go to the log.
    Logged,
}

/// What the writer thread needs besides its connection.
pub(super) struct WriterConfig {
    pub group_commit: bool,
    pub max_batch: usize,
    pub clock_ms: fn() -> u64,
    pub commits: Arc<AtomicU64>,
}

/// A command that ran inside the open transaction, waiting for the COMMIT.
enum Pending {
    Insert(oneshot::Sender<Result<Inserted, LedgerError>>, Inserted),
    Transition(TransitionReply, Vec<Moved>),
}

impl Pending {
    fn answer(self, commit: &Result<(), LedgerError>) {
        match (self, commit) {
            (Pending::Insert(reply, inserted), Ok(())) => {
                let _ = reply.send(Ok(inserted));
            }
            (Pending::Insert(reply, _), Err(error)) => {
                let _ = reply.send(Err(error.clone()));
            }
            (Pending::Transition(reply, moved), Ok(())) => answer_transition(reply, Ok(moved)),
            (Pending::Transition(reply, _), Err(error)) => {
                answer_transition(reply, Err(error.clone()))
            }
        }
    }
}

fn answer_transition(reply: TransitionReply, result: Result<Vec<Moved>, LedgerError>) {
    match reply {
        TransitionReply::One(sender) => {
            let _ =
                sender.send(result.map(|moved| moved.first().copied().unwrap_or(Moved::Missing)));
        }
        TransitionReply::Many(sender) => {
            let _ = sender.send(result);
        }
        TransitionReply::Logged => match result {
            Ok(moved) => {
                for outcome in moved {
                    match outcome {
                        Moved::Done => {}
                        Moved::Refused(current) => {
                            tracing::warn!(%current, "payment ledger refused a queued transition")
                        }
                        Moved::Missing => {
                            tracing::warn!("payment ledger has no row for a queued transition")
                        }
                    }
                }
            }
            Err(error) => tracing::error!(%error, "payment ledger transition failed"),
        },
    }
}

/// Who waits for a command that failed before its COMMIT (nothing of it was written).
enum Waiter {
    Insert(oneshot::Sender<Result<Inserted, LedgerError>>),
    Transition(TransitionReply),
}

impl Waiter {
    fn fail(self, error: LedgerError) {
        match self {
            Waiter::Insert(reply) => {
                let _ = reply.send(Err(error));
            }
            Waiter::Transition(reply) => answer_transition(reply, Err(error)),
        }
    }
}

impl Command {
    fn into_waiter(self) -> Waiter {
        match self {
            Command::Insert { reply, .. } => Waiter::Insert(reply),
            Command::Transition { reply, .. } => Waiter::Transition(reply),
        }
    }
}

/// The thread's body: runs until every sender is dropped, then checkpoints the WAL.
pub(super) fn run(conn: Connection, commands: Receiver<Command>, config: WriterConfig) {
    let max_batch = if config.group_commit {
        config.max_batch.max(1)
    } else {
        1
    };
    let mut batch = Vec::with_capacity(max_batch);
    while let Ok(first) = commands.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        write_batch(&conn, batch.drain(..), &config);
    }
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(%error, "payment ledger checkpoint at shutdown failed");
    }
}

/// Runs `batch` in one transaction (more only if SQLite itself rolls one back), then answers.
fn write_batch(conn: &Connection, batch: impl Iterator<Item = Command>, config: &WriterConfig) {
    let now_ms = (config.clock_ms)();
    let mut pending: Vec<Pending> = Vec::new();
    for command in batch {
        if conn.is_autocommit()
            && let Err(error) = conn.execute_batch("BEGIN IMMEDIATE")
        {
            command.into_waiter().fail(error.into());
            continue;
        }
        let failure = match command {
            Command::Insert {
                record,
                reuse_released,
                reply,
            } => match in_savepoint(conn, |conn| insert(conn, &record, reuse_released)) {
                Ok(inserted) => {
                    pending.push(Pending::Insert(reply, inserted));
                    None
                }
                Err(error) => Some((Waiter::Insert(reply), error)),
            },
            Command::Transition { moves, reply } => {
                let moved = in_savepoint(conn, |conn| {
                    moves
                        .iter()
                        .map(|request| transition(conn, request, now_ms))
                        .collect::<Result<Vec<_>, _>>()
                });
                match moved {
                    Ok(moved) => {
                        pending.push(Pending::Transition(reply, moved));
                        None
                    }
                    Err(error) => Some((Waiter::Transition(reply), error)),
                }
            }
        };
        if let Some((waiter, error)) = failure {
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (it may on SQLITE_FULL or I/O
                // errors): nothing run before in it is written either.
                for earlier in pending.drain(..) {
                    earlier.answer(&Err(error.clone()));
                }
            }
            waiter.fail(error);
        }
    }
    if conn.is_autocommit() {
        return; // nothing left to commit: every command was answered with its error
    }
    let commit = conn.execute_batch("COMMIT").map_err(LedgerError::from);
    match &commit {
        Ok(()) => {
            config.commits.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            tracing::error!(%error, commands = pending.len(), "payment ledger commit failed");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    for done in pending {
        done.answer(&commit);
    }
}

/// Runs `write` between `SAVEPOINT` and `RELEASE`; on failure rolls back only its changes.
fn in_savepoint<T>(
    conn: &Connection,
    write: impl FnOnce(&Connection) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    conn.execute_batch("SAVEPOINT command")?;
    match write(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE command")?;
            Ok(value)
        }
        Err(error) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK TO command; RELEASE command");
            }
            Err(error)
        }
    }
}

const INSERT: &str = "INSERT INTO payments (id, chain_id, asset, payer, nonce, route, network, \
     amount, amount_units, policy, version, payload, requirements, valid_before, state, tx_hash, \
     reason, created_ms, updated_ms, attempts) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
     ON CONFLICT (id) DO NOTHING";

fn insert(
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

fn transition(conn: &Connection, request: &MoveRequest, now_ms: u64) -> Result<Moved, LedgerError> {
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::ledger::schema::{open_reader, open_writer};
    use crate::ledger::tests::sample_record;

    fn config() -> (WriterConfig, Arc<AtomicU64>) {
        let commits = Arc::new(AtomicU64::new(0));
        let config = WriterConfig {
            group_commit: true,
            max_batch: 512,
            clock_ms: || 42,
            commits: Arc::clone(&commits),
        };
        (config, commits)
    }

    fn insert_command(
        record: Record,
    ) -> (Command, oneshot::Receiver<Result<Inserted, LedgerError>>) {
        let (reply, answer) = oneshot::channel();
        let command = Command::Insert {
            record,
            reuse_released: false,
            reply,
        };
        (command, answer)
    }

    /// Queues `commands` before the writer starts, so they form one batch, and runs it.
    fn run_one_batch(conn: Connection, commands: Vec<Command>) -> u64 {
        let (sender, queue) = mpsc::channel();
        for command in commands {
            sender.send(command).unwrap();
        }
        drop(sender);
        let (config, commits) = config();
        run(conn, queue, config);
        commits.load(Ordering::Relaxed)
    }

    #[test]
    fn a_failing_command_does_not_fail_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let conn = open_writer(&path, None).unwrap();
        let mut unchecked = sample_record(2);
        unchecked.id.pop(); // 31 characters: the CHECK constraint refuses it (validate() is bypassed)
        let (first, first_answer) = insert_command(sample_record(1));
        let (bad, bad_answer) = insert_command(unchecked.clone());
        let (third, third_answer) = insert_command(sample_record(3));
        let (reply, move_answer) = oneshot::channel();
        let transition = Command::Transition {
            moves: vec![MoveRequest {
                id: sample_record(1).id,
                to: State::Forwarded,
                transaction: None,
                reason: None,
            }],
            reply: TransitionReply::One(reply),
        };

        assert_eq!(
            run_one_batch(conn, vec![first, bad, third, transition]),
            1,
            "one commit"
        );
        assert_eq!(first_answer.blocking_recv().unwrap(), Ok(Inserted::New));
        assert!(matches!(
            bad_answer.blocking_recv().unwrap(),
            Err(LedgerError::Invalid(_))
        ));
        assert_eq!(third_answer.blocking_recv().unwrap(), Ok(Inserted::New));
        assert_eq!(move_answer.blocking_recv().unwrap(), Ok(Moved::Done));

        let reader = open_reader(&path).unwrap();
        let count: i64 = reader
            .query_row("SELECT count(*) FROM payments", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 2);
        let (state, updated): (State, u64) = reader
            .query_row(
                "SELECT state, updated_ms FROM payments WHERE id = ?1",
                [sample_record(1).id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((state, updated), (State::Forwarded, 42));
    }

    #[test]
    fn a_transaction_rolled_back_by_sqlite_fails_every_command_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let conn = open_writer(&path, None).unwrap();
        // Room for small rows in the existing pages, none for a row that needs overflow pages.
        let pages: i64 = conn
            .pragma_query_value(None, "page_count", |row| row.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages + 1)
            .unwrap();
        let mut bulky = sample_record(2);
        bulky.payload = format!(r#"{{"padding":"{}"}}"#, "x".repeat(40_000));
        let (small, small_answer) = insert_command(sample_record(1));
        let (big, big_answer) = insert_command(bulky);
        let (after, after_answer) = insert_command(sample_record(3));

        assert_eq!(run_one_batch(conn, vec![small, big, after]), 1);
        assert_eq!(big_answer.blocking_recv().unwrap(), Err(LedgerError::Full));
        let small_result = small_answer.blocking_recv().unwrap();
        let after_result = after_answer.blocking_recv().unwrap();

        let reader = open_reader(&path).unwrap();
        let present = |id: String| -> bool {
            let found: i64 = reader
                .query_row("SELECT count(*) FROM payments WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .unwrap();
            found == 1
        };
        // Whether SQLite rolls back the statement or the whole transaction, an answer is `Ok`
        // exactly when the row is there.
        assert_eq!(
            small_result.is_ok(),
            present(sample_record(1).id),
            "{small_result:?}"
        );
        assert_eq!(after_result, Ok(Inserted::New));
        assert!(present(sample_record(3).id));
        assert!(!present(sample_record(2).id));
    }
}

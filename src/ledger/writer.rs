//! The writer thread: the one owner of the write connection, and group commit.
//!
//! It blocks for the first [`Command`], drains whatever else is queued (up to `max_batch`), runs
//! them all in one transaction, commits once (one fsync), and only then answers each command.
//! One failing command does not fail the others: a command of one write statement (an insert,
//! a single move) is undone by SQLite alone; a command of several runs in a SAVEPOINT (one per
//! command cost about a tenth of the writer's time). If the COMMIT fails, every command that
//! was to be committed gets that error. Without group commit each command is its own
//! transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::access::{self, AccessWrite};
use super::batch::{self, BillingDone, BillingWrite};
use super::error::LedgerError;
use super::record::{Inserted, Moved, Record};
use super::state::State;
use super::tab::{self, TabInsert, TabLine};
use super::writes::{insert, transition};

/// One write, and where its answer goes.
pub(super) enum Command {
    Insert {
        record: Box<Record>,
        /// Replace an existing `released` row instead of answering `Exists(Released)`.
        reuse_released: bool,
        reply: oneshot::Sender<Result<Inserted, LedgerError>>,
    },
    Transition {
        moves: Vec<MoveRequest>,
        reply: TransitionReply,
    },
    /// Access state; with a reply, answered once committed (else failures go to the log).
    Access {
        change: AccessWrite,
        reply: Option<oneshot::Sender<Result<(), LedgerError>>>,
    },
    /// A charged crawler request on a tab.
    Tab {
        line: Box<TabLine>,
        reply: oneshot::Sender<Result<TabInsert, LedgerError>>,
    },
    /// A tab's batches and accounts.
    Billing {
        change: Box<BillingWrite>,
        reply: oneshot::Sender<Result<BillingDone, LedgerError>>,
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
    Access(Option<oneshot::Sender<Result<(), LedgerError>>>),
    Tab(oneshot::Sender<Result<TabInsert, LedgerError>>, TabInsert),
    Billing(
        oneshot::Sender<Result<BillingDone, LedgerError>>,
        BillingDone,
    ),
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
            (Pending::Access(reply), commit) => answer_access(reply, commit.clone()),
            (Pending::Tab(reply, inserted), commit) => {
                let _ = reply.send(commit.clone().map(|()| inserted));
            }
            (Pending::Billing(reply, done), commit) => {
                let _ = reply.send(commit.clone().map(|()| done));
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

fn answer_access(
    reply: Option<oneshot::Sender<Result<(), LedgerError>>>,
    result: Result<(), LedgerError>,
) {
    match (reply, result) {
        (Some(reply), result) => {
            let _ = reply.send(result);
        }
        (None, Ok(())) => {}
        (None, Err(error)) => tracing::error!(%error, "access state not written to the ledger"),
    }
}

/// Who waits for a command that failed before its COMMIT (nothing of it was written).
enum Waiter {
    Insert(oneshot::Sender<Result<Inserted, LedgerError>>),
    Transition(TransitionReply),
    Access(Option<oneshot::Sender<Result<(), LedgerError>>>),
    Tab(oneshot::Sender<Result<TabInsert, LedgerError>>),
    Billing(oneshot::Sender<Result<BillingDone, LedgerError>>),
}

impl Waiter {
    fn fail(self, error: LedgerError) {
        match self {
            Waiter::Insert(reply) => {
                let _ = reply.send(Err(error));
            }
            Waiter::Transition(reply) => answer_transition(reply, Err(error)),
            Waiter::Access(reply) => answer_access(reply, Err(error)),
            Waiter::Tab(reply) => {
                let _ = reply.send(Err(error));
            }
            Waiter::Billing(reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl Command {
    fn into_waiter(self) -> Waiter {
        match self {
            Command::Insert { reply, .. } => Waiter::Insert(reply),
            Command::Transition { reply, .. } => Waiter::Transition(reply),
            Command::Access { reply, .. } => Waiter::Access(reply),
            Command::Tab { reply, .. } => Waiter::Tab(reply),
            Command::Billing { reply, .. } => Waiter::Billing(reply),
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
            && let Err(error) = run_cached(conn, "BEGIN IMMEDIATE")
        {
            command.into_waiter().fail(error);
            continue;
        }
        let failure = match command {
            Command::Insert {
                record,
                reuse_released,
                reply,
            } => match insert(conn, &record, reuse_released) {
                Ok(inserted) => {
                    pending.push(Pending::Insert(reply, inserted));
                    None
                }
                Err(error) => Some((Waiter::Insert(reply), error)),
            },
            Command::Transition { moves, reply } => {
                let all = |conn: &Connection| {
                    moves
                        .iter()
                        .map(|request| transition(conn, request, now_ms))
                        .collect::<Result<Vec<_>, _>>()
                };
                // One move is one UPDATE, atomic by itself; several are undone together.
                let moved = if moves.len() == 1 {
                    all(conn)
                } else {
                    in_savepoint(conn, all)
                };
                match moved {
                    Ok(moved) => {
                        pending.push(Pending::Transition(reply, moved));
                        None
                    }
                    Err(error) => Some((Waiter::Transition(reply), error)),
                }
            }
            Command::Access { change, reply } => {
                match in_savepoint(conn, |conn| access::write(conn, &change)) {
                    Ok(()) => {
                        pending.push(Pending::Access(reply));
                        None
                    }
                    Err(error) => Some((Waiter::Access(reply), error)),
                }
            }
            Command::Tab { line, reply } => {
                match in_savepoint(conn, |conn| tab::insert(conn, &line)) {
                    Ok(inserted) => {
                        pending.push(Pending::Tab(reply, inserted));
                        None
                    }
                    Err(error) => Some((Waiter::Tab(reply), error)),
                }
            }
            Command::Billing { change, reply } => {
                match in_savepoint(conn, |conn| batch::write(conn, &change, now_ms)) {
                    Ok(done) => {
                        pending.push(Pending::Billing(reply, done));
                        None
                    }
                    Err(error) => Some((Waiter::Billing(reply), error)),
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
    let commit = run_cached(conn, "COMMIT");
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

/// Runs one statement without arguments, parsed once per connection (these run per command).
fn run_cached(conn: &Connection, sql: &str) -> Result<(), LedgerError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs `write` between `SAVEPOINT` and `RELEASE`; on failure undoes only its changes (or, if
/// even that fails, the whole transaction, which the caller then sees as rolled back).
fn in_savepoint<T>(
    conn: &Connection,
    write: impl FnOnce(&Connection) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    run_cached(conn, "SAVEPOINT command")?;
    let result = write(conn).and_then(|value| {
        run_cached(conn, "RELEASE command")?;
        Ok(value)
    });
    if result.is_err()
        && !conn.is_autocommit()
        && conn
            .execute_batch("ROLLBACK TO command; RELEASE command")
            .is_err()
    {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

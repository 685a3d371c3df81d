//! The durable payment ledger: one row per accepted payment and where it stands
//! ([`State`]), written before the gateway acts on it, so a restart resumes owed settlements
//! and keeps refusing replays.
//!
//! **Why SQLite.** In WAL mode the `x402-gateway ledger` CLI reads the file while the gateway
//! writes it (redb, the embedded alternative, holds an exclusive lock), and the schema and
//! queries are plain SQL that carry over to the shared PostgreSQL backend planned next.
//!
//! **Durability.** `journal_mode=WAL`, `synchronous=FULL`: a write's future resolves `Ok` only
//! after its COMMIT is on disk. One writer thread owns the write connection and commits groups
//! of queued writes together (one fsync for many payments); reads use their own read-only
//! connection.
//!
//! | file | role |
//! |---|---|
//! | `state.rs` | [`State`] and the state machine's edges |
//! | `record.rs` | [`Record`], [`Inserted`], [`Moved`], [`Filter`], [`Summary`] |
//! | `error.rs` | [`LedgerError`] |
//! | `schema.rs` | table, indexes, pragmas, row mapping |
//! | `writer.rs` | the writer thread and group commit |
//! | `checkpoint.rs` | the checkpoint thread (WAL → file, off the writer) |
//! | `writes.rs` | the SQL of each write |
//! | `reader.rs` | [`LedgerReader`]: the read API |
//! | `export.rs` | CSV and JSON export |
//! | `access.rs` | access state kept across restarts (pass uses, nonces, payment identifiers) |
//! | `tab.rs` | the toll booth's tab lines (charged crawler requests, by commitment id) |
//! | `batch.rs` | the tabs' batches (a cutoff's invoice per account), their payment and webhook delivery, suspended accounts |

mod access;
mod batch;
mod checkpoint;
mod error;
pub mod export;
mod reader;
mod record;
mod schema;
mod state;
mod tab;
mod writer;
mod writes;

#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use access::AccessWrite;
pub use access::{AccessKind, AccessRow};
pub use batch::{Batch, BillingDone, BillingWrite};
pub use error::LedgerError;
pub use reader::LedgerReader;
pub use record::{Filter, Inserted, Move, Moved, Record, Summary};
pub use state::{State, UnknownState};
pub use tab::{TabInsert, TabLine};

use writer::{Command, MoveRequest, TransitionReply, WriterConfig};

/// The default largest group of writes committed together.
pub const DEFAULT_MAX_BATCH: usize = 512;

/// How to open a [`Ledger`].
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// The database file (created if missing, with its `-wal` and `-shm` files beside it).
    pub path: PathBuf,
    /// Commit queued writes together (one fsync for the group). Off: one transaction per write.
    pub group_commit: bool,
    /// The most writes in one group.
    pub max_batch: usize,
    /// A cap on the database file: writes past it fail with [`LedgerError::Full`].
    pub max_size_bytes: Option<u64>,
    /// fsync every commit (`synchronous=FULL`: survives power loss). False: `synchronous=NORMAL`,
    /// a commit survives the process being killed but an OS crash may lose the last ones.
    pub sync_every_commit: bool,
    /// Unix milliseconds stamped as `updated_ms` by transitions.
    pub clock_ms: fn() -> u64,
}

impl LedgerOptions {
    /// Group commit on, batches of [`DEFAULT_MAX_BATCH`], no size cap, the system clock.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LedgerOptions {
            path: path.into(),
            group_commit: true,
            max_batch: DEFAULT_MAX_BATCH,
            max_size_bytes: None,
            sync_every_commit: true,
            clock_ms: system_clock_ms,
        }
    }
}

/// The system's Unix time in milliseconds.
#[allow(clippy::disallowed_methods)] // the ledger's stamp of `updated_ms`; tests set `clock_ms`
pub fn system_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The payment ledger: the write API (async, `Ok` once durable) and the read API (sync).
/// Clones share one writer thread; it stops, after finishing every queued write, when the last
/// clone is dropped.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` only while dropping.
    commands: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    /// Dropped to stop the checkpoint thread.
    checkpoints: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    reader: LedgerReader,
    commits: Arc<AtomicU64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.checkpoints.take() {
            drop(stop);
            let _ = thread.join();
        }
        self.commands.take(); // closes the channel: the writer drains it and returns
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("payment ledger writer thread panicked");
        }
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (creating if missing) the ledger at `options.path` and starts its writer thread.
    pub fn open(options: LedgerOptions) -> Result<Ledger, LedgerError> {
        let conn = schema::open_writer(
            &options.path,
            options.max_size_bytes,
            options.sync_every_commit,
        )?;
        let reader = LedgerReader::open(&options.path)?;
        let commits = Arc::new(AtomicU64::new(0));
        let config = WriterConfig {
            group_commit: options.group_commit,
            max_batch: options.max_batch,
            clock_ms: options.clock_ms,
            commits: Arc::clone(&commits),
        };
        let (commands, queue) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("ledger-writer".to_owned())
            .spawn(move || writer::run(conn, queue, config))
            .map_err(|error| LedgerError::Io(format!("cannot start the writer thread: {error}")))?;
        let checkpointer = schema::open_checkpointer(&options.path)?;
        let (stop, stopped) = mpsc::channel();
        let checkpoints = std::thread::Builder::new()
            .name("ledger-checkpoint".to_owned())
            .spawn(move || checkpoint::run(checkpointer, stopped))
            .map_err(|error| {
                LedgerError::Io(format!("cannot start the checkpoint thread: {error}"))
            })?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                commands: Some(commands),
                writer: Some(writer),
                checkpoints: Some((stop, checkpoints)),
                reader,
                commits,
            }),
        })
    }

    /// Opens an existing ledger for reading only (the CLI, while a gateway runs).
    pub fn open_read_only(path: &Path) -> Result<LedgerReader, LedgerError> {
        LedgerReader::open(path)
    }

    /// The read API.
    pub fn reader(&self) -> &LedgerReader {
        &self.inner.reader
    }

    /// How many transactions the writer has committed (each one fsync).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    fn send(&self, command: Command) -> Result<(), LedgerError> {
        let commands = self.inner.commands.as_ref().ok_or(LedgerError::Closed)?;
        commands.send(command).map_err(|_| LedgerError::Closed)
    }

    /// Writes `record` unless its id is present (then `Exists(state)`, the row untouched).
    /// Dropping the future does not cancel the write.
    pub async fn insert(&self, record: Record) -> Result<Inserted, LedgerError> {
        self.insert_command(record, false).await
    }

    /// Like [`Ledger::insert`], but a `released` row with the same id (never charged) is replaced
    /// by `record` and the answer is `New`.
    pub async fn insert_or_reuse_released(&self, record: Record) -> Result<Inserted, LedgerError> {
        self.insert_command(record, true).await
    }

    async fn insert_command(
        &self,
        record: Record,
        reuse_released: bool,
    ) -> Result<Inserted, LedgerError> {
        record.validate()?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Insert {
            record: Box::new(record),
            reuse_released,
            reply,
        })?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Moves the row `id` to `to` if the machine allows it from its current state (read in the
    /// same transaction). `transaction` and `reason` replace the stored ones when `Some`.
    /// Entering `settling` counts an attempt. Sets `updated_ms`.
    pub async fn transition(
        &self,
        id: &str,
        to: State,
        transaction: Option<String>,
        reason: Option<String>,
    ) -> Result<Moved, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Transition {
            moves: vec![MoveRequest {
                id: id.to_owned(),
                to,
                transaction,
                reason,
            }],
            reply: TransitionReply::One(reply),
        })?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Several transitions in one command (one answer per move, in order): a settled batch.
    pub async fn transition_many(&self, moves: Vec<Move>) -> Result<Vec<Moved>, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Transition {
            moves: move_requests(moves),
            reply: TransitionReply::Many(reply),
        })?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Queues an access-state row (pass uses, a redeemed nonce, a payment identifier) without
    /// waiting; a failure is logged.
    pub fn put_access_later(&self, row: AccessRow) {
        let command = Command::Access {
            change: AccessWrite::Put(row),
            reply: None,
        };
        if let Err(error) = self.send(command) {
            tracing::error!(%error, "access state not queued for the ledger");
        }
    }

    /// Writes an access-state row; `Ok` once it is durable.
    pub async fn put_access(&self, row: AccessRow) -> Result<(), LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Access {
            change: AccessWrite::Put(row),
            reply: Some(reply),
        })?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Writes a charged crawler request to its account's tab; `Ok` once durable. A line whose
    /// commitment id is already there is left as it is (`Existing`).
    pub async fn put_tab_line(&self, line: TabLine) -> Result<TabInsert, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Tab {
            line: Box::new(line),
            reply,
        })?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// A billing write (a cutoff, a payment, a webhook attempt, a suspension); `Ok` once durable.
    pub async fn billing(&self, change: BillingWrite) -> Result<BillingDone, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Billing {
            change: Box::new(change),
            reply,
        })?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Queues the deletion of access-state rows expired before `now`.
    pub fn sweep_access_later(&self, now_secs: u64) {
        let _ = self.send(Command::Access {
            change: AccessWrite::Sweep(now_secs),
            reply: None,
        });
    }

    /// Access-state rows alive at `now` (read at start-up).
    pub fn access_rows(&self, now_secs: u64) -> Result<Vec<AccessRow>, LedgerError> {
        self.reader().access_rows(now_secs)
    }

    /// Queues a transition without waiting for it; a failure or refusal is logged.
    pub fn transition_later(
        &self,
        id: &str,
        to: State,
        transaction: Option<String>,
        reason: Option<String>,
    ) {
        let command = Command::Transition {
            moves: vec![MoveRequest {
                id: id.to_owned(),
                to,
                transaction,
                reason,
            }],
            reply: TransitionReply::Logged,
        };
        if let Err(error) = self.send(command) {
            tracing::error!(%error, %to, "payment ledger transition not queued");
        }
    }

    /// See [`LedgerReader::open_records`].
    pub fn open_records(&self) -> Result<Vec<Record>, LedgerError> {
        self.reader().open_records()
    }

    /// See [`LedgerReader::live_ids`].
    pub fn live_ids(&self, now_secs: u64) -> Result<Vec<(String, u64)>, LedgerError> {
        self.reader().live_ids(now_secs)
    }

    /// See [`LedgerReader::get`].
    pub fn get(&self, id: &str) -> Result<Option<Record>, LedgerError> {
        self.reader().get(id)
    }

    /// See [`LedgerReader::has_paid`].
    pub fn has_paid(&self, payer: &str, route: &str, since_ms: u64) -> Result<bool, LedgerError> {
        self.reader().has_paid(payer, route, since_ms)
    }

    /// See [`LedgerReader::query`].
    pub fn query(&self, filter: &Filter) -> Result<Vec<Record>, LedgerError> {
        self.reader().query(filter)
    }

    /// See [`LedgerReader::summary`].
    pub fn summary(&self) -> Result<Summary, LedgerError> {
        self.reader().summary()
    }
}

fn move_requests(moves: Vec<Move>) -> Vec<MoveRequest> {
    moves
        .into_iter()
        .map(|(id, to, transaction, reason)| MoveRequest {
            id,
            to,
            transaction,
            reason,
        })
        .collect()
}

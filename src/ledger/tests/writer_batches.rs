//! The writer thread on its own: one batch with a failing command, and a transaction that
//! SQLite rolls back whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::sample_record;
use crate::ledger::schema::{open_reader, open_writer};
use crate::ledger::writer::{Command, MoveRequest, TransitionReply, WriterConfig, run};
use crate::ledger::{Inserted, LedgerError, Moved, Record, State};

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

fn insert_command(record: Record) -> (Command, oneshot::Receiver<Result<Inserted, LedgerError>>) {
    let (reply, answer) = oneshot::channel();
    let command = Command::Insert {
        record: Box::new(record),
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
    let conn = open_writer(&path, None, true).unwrap();
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
    let conn = open_writer(&path, None, true).unwrap();
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

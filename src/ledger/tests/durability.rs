//! Group commit, restarts, and a full ledger.

use std::collections::HashSet;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_inserts() {
    const TASKS: u64 = 64;
    const RECORDS: u64 = 2000;
    let (_dir, ledger) = temp_ledger();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for n in (task..RECORDS).step_by(TASKS as usize) {
                    assert_eq!(
                        ledger.insert(sample_record(n)).await.unwrap(),
                        Inserted::New
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(ledger.summary().unwrap().count(State::Reserved), RECORDS);
    let commits = ledger.commits();
    assert!(
        commits > 0 && commits <= RECORDS / 10,
        "{commits} commits for {RECORDS} inserts"
    );
}

#[tokio::test]
async fn without_group_commit_each_write_commits_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_at(&dir.path().join("ledger.db"), false);
    let inserts: Vec<_> = (0..20).map(|n| ledger.insert(sample_record(n))).collect();
    for insert in inserts {
        insert.await.unwrap();
    }
    assert_eq!(ledger.commits(), 20);
}

#[tokio::test]
async fn acknowledged_writes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = open_at(&path, true);
    let states = [
        State::Reserved,
        State::Forwarded,
        State::Settling,
        State::Settled,
        State::Failed,
        State::Released,
        State::PaidNotDelivered,
    ];
    let mut written = Vec::new();
    for (n, state) in (1u64..).zip(states) {
        let mut record = sample_record(n);
        record.state = state;
        ledger.insert(record.clone()).await.unwrap();
        written.push(record);
    }
    mv(&ledger, &written[0].id, State::Forwarded).await;
    written[0].state = State::Forwarded;
    written[0].updated_ms = TEST_NOW_MS;
    drop(ledger);

    let reopened = open_at(&path, true);
    for record in &written {
        assert_eq!(reopened.get(&record.id).unwrap().as_ref(), Some(record));
    }
    let open: Vec<(String, State)> = reopened
        .open_records()
        .unwrap()
        .into_iter()
        .map(|record| (record.id, record.state))
        .collect();
    let expected: Vec<(String, State)> = written
        .iter()
        .filter(|record| record.state.is_open())
        .map(|record| (record.id.clone(), record.state))
        .collect();
    assert_eq!(open, expected, "open rows, oldest first");

    // valid_before is 1_700_000_000 + n: at now = 1_700_000_003 rows 4..=7 are live, less the
    // released one (6).
    let live: HashSet<(String, u64)> = reopened
        .live_ids(1_700_000_003)
        .unwrap()
        .into_iter()
        .collect();
    let expected: HashSet<(String, u64)> = [4, 5, 7]
        .map(|n| (sample_record(n).id, sample_record(n).valid_before))
        .into();
    assert_eq!(live, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ledger_fails_writes_with_full_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = LedgerOptions::new(dir.path().join("ledger.db"));
    options.max_size_bytes = Some(96 * 1024);
    let ledger = Ledger::open(options).unwrap();

    let tasks: Vec<_> = (0..16u64)
        .map(|task| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in (task..400).step_by(16) {
                    outcomes.push((n, ledger.insert(bulky_record(n)).await));
                }
                outcomes
            })
        })
        .collect();
    let (mut stored, mut refused) = (Vec::new(), Vec::new());
    for task in tasks {
        for (n, outcome) in task.await.unwrap() {
            match outcome {
                Ok(inserted) => {
                    assert_eq!(inserted, Inserted::New);
                    stored.push(n);
                }
                Err(error) => {
                    assert_eq!(error, LedgerError::Full);
                    refused.push(n);
                }
            }
        }
    }
    assert!(
        !stored.is_empty() && !refused.is_empty(),
        "{} stored, {} refused",
        stored.len(),
        refused.len()
    );
    for n in &stored {
        assert_eq!(
            ledger.get(&sample_record(*n).id).unwrap(),
            Some(bulky_record(*n))
        );
    }
    for n in &refused {
        assert_eq!(
            ledger.get(&sample_record(*n).id).unwrap(),
            None,
            "refused record {n} is absent"
        );
    }
    assert_eq!(ledger.summary().unwrap().total(), stored.len() as u64);
    // Rows already there can still move: an update in place needs no new page.
    let first = sample_record(stored[0]).id;
    assert_eq!(mv(&ledger, &first, State::Forwarded).await, Moved::Done);
}

//! Behaviour tests of the ledger against real files in temporary directories.

use std::collections::HashSet;
use std::path::Path;

use super::*;

/// The clock of test ledgers: transitions stamp this `updated_ms`.
pub(crate) const TEST_NOW_MS: u64 = 1_800_000_000_000;

fn test_clock() -> u64 {
    TEST_NOW_MS
}

/// A plausible accepted payment; `n` makes the id, nonce and times distinct.
pub(crate) fn sample_record(n: u64) -> Record {
    Record {
        id: format!("{n:032x}"),
        chain_id: 8453,
        asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".to_owned(),
        payer: format!("0xAbCd{n:036x}"),
        nonce: format!("0x{n:064x}"),
        route: "weather".to_owned(),
        network: "base".to_owned(),
        amount: "10000".to_owned(),
        policy: "settle_after".to_owned(),
        version: 2,
        payload: format!(r#"{{"signature":"0x{n:0130x}","authorization":{{"value":"10000"}}}}"#),
        requirements: r#"{"scheme":"exact","network":"base","maxAmountRequired":"10000"}"#
            .to_owned(),
        valid_before: 1_700_000_000 + n,
        state: State::Reserved,
        transaction: None,
        reason: None,
        created_ms: 1_700_000_000_000 + n * 1000,
        updated_ms: 1_700_000_000_000 + n * 1000,
        attempts: 0,
    }
}

fn open_at(path: &Path, group_commit: bool) -> Ledger {
    let mut options = LedgerOptions::new(path);
    options.group_commit = group_commit;
    options.clock_ms = test_clock;
    Ledger::open(options).unwrap()
}

fn temp_ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_at(&dir.path().join("ledger.db"), true);
    (dir, ledger)
}

#[tokio::test]
async fn insert_then_get_round_trips_every_field() {
    let (_dir, ledger) = temp_ledger();
    let mut record = sample_record(7);
    record.amount = "1267650600228229401496703205376".to_owned(); // 2^100: no amount_units
    record.state = State::Settled;
    record.transaction = Some("0xfeed".to_owned());
    record.reason = Some("a reason, with \"quotes\"".to_owned());
    record.attempts = 3;
    record.version = 1;
    record.chain_id = i64::MAX as u64;
    assert_eq!(ledger.insert(record.clone()).await.unwrap(), Inserted::New);
    assert_eq!(ledger.get(&record.id).unwrap(), Some(record));
    assert_eq!(ledger.get(&sample_record(8).id).unwrap(), None);
}

#[tokio::test]
async fn duplicate_insert_reports_the_existing_state_and_keeps_the_row() {
    let (_dir, ledger) = temp_ledger();
    let original = sample_record(1);
    ledger.insert(original.clone()).await.unwrap();
    let mut second = sample_record(1);
    second.route = "other".to_owned();
    assert_eq!(
        ledger.insert(second.clone()).await.unwrap(),
        Inserted::Exists(State::Reserved)
    );
    assert_eq!(
        ledger.insert_or_reuse_released(second).await.unwrap(),
        Inserted::Exists(State::Reserved),
        "only released rows are reused"
    );
    assert_eq!(ledger.get(&original.id).unwrap(), Some(original));
}

#[tokio::test]
async fn released_row_is_reused() {
    let (_dir, ledger) = temp_ledger();
    let first = sample_record(1);
    ledger.insert(first.clone()).await.unwrap();
    let released = ledger.transition(&first.id, State::Released, None, Some("origin 502".into()));
    assert_eq!(released.await.unwrap(), Moved::Done);
    let mut again = sample_record(1);
    again.route = "retry".to_owned();
    assert_eq!(
        ledger.insert(again.clone()).await.unwrap(),
        Inserted::Exists(State::Released)
    );
    assert_eq!(
        ledger
            .insert_or_reuse_released(again.clone())
            .await
            .unwrap(),
        Inserted::New
    );
    assert_eq!(ledger.get(&first.id).unwrap(), Some(again));
}

#[tokio::test]
async fn invalid_records_are_refused_before_writing() {
    let (_dir, ledger) = temp_ledger();
    let mut bad_id = sample_record(1);
    bad_id.id = bad_id.id.to_uppercase().replace('0', "A");
    let mut bad_amount = sample_record(2);
    bad_amount.amount = "1.5".to_owned();
    let mut bad_payload = sample_record(3);
    bad_payload.payload = "{secret".to_owned();
    for record in [bad_id, bad_amount, bad_payload] {
        let error = ledger.insert(record.clone()).await.unwrap_err();
        assert!(matches!(error, LedgerError::Invalid(_)), "{error}");
        assert!(
            !error.to_string().contains("secret"),
            "messages carry no payload"
        );
        assert_eq!(ledger.get(&record.id).unwrap(), None);
    }
}

#[tokio::test]
async fn transitions_follow_the_machine() {
    let (_dir, ledger) = temp_ledger();
    let record = sample_record(1);
    let id = record.id.as_str();
    ledger.insert(record.clone()).await.unwrap();

    assert_eq!(
        ledger
            .transition(id, State::Settled, None, None)
            .await
            .unwrap(),
        Moved::Refused(State::Reserved)
    );
    assert_eq!(
        ledger.get(id).unwrap(),
        Some(record.clone()),
        "a refused move changes nothing"
    );

    assert_eq!(
        ledger
            .transition(id, State::Forwarded, None, None)
            .await
            .unwrap(),
        Moved::Done
    );
    assert_eq!(
        ledger
            .transition(id, State::Settling, None, None)
            .await
            .unwrap(),
        Moved::Done
    );
    assert_eq!(
        ledger
            .transition(id, State::Forwarded, None, Some("timeout".into()))
            .await
            .unwrap(),
        Moved::Done
    );
    assert_eq!(
        ledger
            .transition(id, State::Settling, None, None)
            .await
            .unwrap(),
        Moved::Done
    );
    let settling = ledger.get(id).unwrap().unwrap();
    assert_eq!((settling.state, settling.attempts), (State::Settling, 2));
    assert_eq!(settling.updated_ms, TEST_NOW_MS);
    assert_eq!(settling.created_ms, record.created_ms);
    assert_eq!(
        settling.reason.as_deref(),
        Some("timeout"),
        "None keeps the stored reason"
    );

    let settled = ledger.transition(id, State::Settled, Some("0xabc".into()), None);
    assert_eq!(settled.await.unwrap(), Moved::Done);
    assert_eq!(
        ledger
            .transition(id, State::Released, None, None)
            .await
            .unwrap(),
        Moved::Refused(State::Settled)
    );
    let undelivered = ledger.transition(
        id,
        State::PaidNotDelivered,
        None,
        Some("client gone".into()),
    );
    assert_eq!(undelivered.await.unwrap(), Moved::Done);
    assert_eq!(
        ledger
            .transition(id, State::Settled, None, None)
            .await
            .unwrap(),
        Moved::Done
    );
    let done = ledger.get(id).unwrap().unwrap();
    assert_eq!(done.state, State::Settled);
    assert_eq!(done.transaction.as_deref(), Some("0xabc"));
    assert_eq!(done.reason.as_deref(), Some("client gone"));
    assert_eq!(done.attempts, 2, "only entering settling counts");

    let missing = sample_record(99).id;
    assert_eq!(
        ledger
            .transition(&missing, State::Forwarded, None, None)
            .await
            .unwrap(),
        Moved::Missing
    );
}

#[tokio::test]
async fn transition_many_answers_each_move() {
    let (_dir, ledger) = temp_ledger();
    for n in 1..=3 {
        ledger.insert(sample_record(n)).await.unwrap();
    }
    let moves = vec![
        (sample_record(1).id, State::Forwarded, None, None),
        (sample_record(2).id, State::Failed, None, None),
        (sample_record(9).id, State::Forwarded, None, None),
        (
            sample_record(3).id,
            State::Settling,
            Some("0x1".to_owned()),
            None,
        ),
    ];
    let moved = ledger.transition_many(moves).await.unwrap();
    assert_eq!(
        moved,
        [
            Moved::Done,
            Moved::Refused(State::Reserved),
            Moved::Missing,
            Moved::Done
        ]
    );
    assert_eq!(
        ledger.get(&sample_record(1).id).unwrap().unwrap().state,
        State::Forwarded
    );
    assert_eq!(
        ledger.get(&sample_record(2).id).unwrap().unwrap().state,
        State::Reserved
    );
    let third = ledger.get(&sample_record(3).id).unwrap().unwrap();
    assert_eq!((third.state, third.attempts), (State::Settling, 1));
}

#[tokio::test]
async fn transition_later_is_applied_in_order() {
    let (_dir, ledger) = temp_ledger();
    let id = sample_record(1).id;
    ledger.insert(sample_record(1)).await.unwrap();
    ledger.transition_later(&id, State::Forwarded, None, None);
    ledger.transition_later(&id, State::Settled, None, None); // refused: logged only
    // Commands are handled in order: once this one is answered, the queued ones are done.
    ledger
        .transition(&id, State::Settling, None, None)
        .await
        .unwrap();
    let record = ledger.get(&id).unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (State::Settling, 1));
}

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
    eprintln!("DIAG commits {commits}");
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
    ledger
        .transition(&written[0].id, State::Forwarded, None, None)
        .await
        .unwrap();
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

#[tokio::test]
async fn read_only_reader_sees_writes_while_the_writer_runs() {
    let (dir, ledger) = temp_ledger();
    let reader = Ledger::open_read_only(&dir.path().join("ledger.db")).unwrap();
    assert_eq!(reader.summary().unwrap().total(), 0);
    ledger.insert(sample_record(1)).await.unwrap();
    assert_eq!(
        reader.get(&sample_record(1).id).unwrap(),
        Some(sample_record(1))
    );
}

#[test]
fn read_only_open_refuses_what_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Ledger::open_read_only(&dir.path().join("missing.db")).is_err());
    let text = dir.path().join("text.db");
    std::fs::write(
        &text,
        "not a database, just some text that is long enough ".repeat(20),
    )
    .unwrap();
    assert!(matches!(
        Ledger::open_read_only(&text),
        Err(LedgerError::Corrupt(_))
    ));
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert!(matches!(
        Ledger::open_read_only(&other),
        Err(LedgerError::Corrupt(_))
    ));
}

/// A record with a payload of about 2 KB, to fill a small ledger quickly.
fn bulky_record(n: u64) -> Record {
    let mut record = sample_record(n);
    record.payload = format!(r#"{{"padding":"{}"}}"#, "x".repeat(2000));
    record
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
    eprintln!(
        "DIAG stored {} refused {} commits {}",
        stored.len(),
        refused.len(),
        ledger.commits()
    );
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
    assert_eq!(
        ledger
            .transition(&first, State::Forwarded, None, None)
            .await
            .unwrap(),
        Moved::Done
    );
}

#[tokio::test]
async fn query_filters_and_orders_newest_first() {
    let (_dir, ledger) = temp_ledger();
    for n in 1..=6u64 {
        let mut record = sample_record(n);
        record.route = if n % 2 == 0 { "even" } else { "odd" }.to_owned();
        record.payer = if n <= 3 { "0xAAAA" } else { "0xbbbb" }.to_owned();
        ledger.insert(record).await.unwrap();
    }
    ledger
        .transition(&sample_record(5).id, State::Forwarded, None, None)
        .await
        .unwrap();
    let ids = |filter: Filter| -> Vec<u64> {
        ledger
            .query(&filter)
            .unwrap()
            .iter()
            .map(|record| u64::from_str_radix(&record.id, 16).unwrap())
            .collect()
    };
    assert_eq!(ids(Filter::default()), [6, 5, 4, 3, 2, 1]);
    assert_eq!(
        ids(Filter {
            route: Some("even".into()),
            ..Filter::default()
        }),
        [6, 4, 2]
    );
    assert_eq!(
        ids(Filter {
            payer: Some("0xaaaa".into()),
            ..Filter::default()
        }),
        [3, 2, 1]
    );
    assert_eq!(
        ids(Filter {
            payer: Some("0XBBBB".into()),
            ..Filter::default()
        }),
        [6, 5, 4]
    );
    assert_eq!(
        ids(Filter {
            state: Some(State::Forwarded),
            ..Filter::default()
        }),
        [5]
    );
    let created = |n: u64| sample_record(n).created_ms;
    let window = Filter {
        since_ms: Some(created(2)),
        until_ms: Some(created(5)),
        ..Filter::default()
    };
    assert_eq!(ids(window), [4, 3, 2], "since inclusive, until exclusive");
    assert_eq!(
        ids(Filter {
            limit: Some(2),
            ..Filter::default()
        }),
        [6, 5]
    );
    let combined = Filter {
        route: Some("odd".into()),
        payer: Some("0xBBBB".into()),
        state: Some(State::Reserved),
        ..Filter::default()
    };
    assert_eq!(ids(combined), Vec::<u64>::new());
    assert_eq!(
        ids(Filter {
            route: Some("' OR 1=1 --".into()),
            ..Filter::default()
        }),
        Vec::<u64>::new()
    );
}

#[tokio::test]
async fn summary_counts_states_and_unsettled_value() {
    let (_dir, ledger) = temp_ledger();
    let amounts = [
        (1, "100", State::Forwarded),
        (2, "250", State::Settling),
        (3, "999", State::Settled),
    ];
    for (n, amount, state) in amounts {
        let mut record = sample_record(n);
        record.amount = amount.to_owned();
        record.state = state;
        ledger.insert(record).await.unwrap();
    }
    let mut huge = sample_record(4);
    huge.amount = "18446744073709551616".to_owned(); // 2^64: too large for amount_units
    huge.state = State::Forwarded;
    ledger.insert(huge).await.unwrap();
    ledger.insert(sample_record(5)).await.unwrap();
    let summary = ledger.summary().unwrap();
    assert_eq!(summary.count(State::Forwarded), 2);
    assert_eq!(summary.count(State::Settling), 1);
    assert_eq!(summary.count(State::Settled), 1);
    assert_eq!(summary.count(State::Reserved), 1);
    assert_eq!(summary.count(State::Failed), 0);
    assert_eq!(summary.total(), 5);
    assert_eq!(summary.unsettled_units, 350 + 18_446_744_073_709_551_616);
}

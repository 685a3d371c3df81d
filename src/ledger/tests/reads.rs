//! The read API: read-only opening, queries and the summary.

use super::*;

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

#[tokio::test]
async fn query_filters_and_orders_newest_first() {
    let (_dir, ledger) = temp_ledger();
    for n in 1..=6u64 {
        let mut record = sample_record(n);
        record.route = if n % 2 == 0 { "even" } else { "odd" }.to_owned();
        record.payer = if n <= 3 { "0xAAAA" } else { "0xbbbb" }.to_owned();
        ledger.insert(record).await.unwrap();
    }
    mv(&ledger, &sample_record(5).id, State::Forwarded).await;
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

#[tokio::test]
async fn payer_and_live_id_lookups_use_their_indexes() {
    let (dir, _ledger) = temp_ledger();
    let conn = rusqlite::Connection::open(dir.path().join("ledger.db")).unwrap();
    let plan = |sql: &str| -> String {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = statement
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let by_payer = plan("SELECT id FROM payments WHERE payer = 'X' COLLATE NOCASE");
    assert!(
        by_payer.contains("INDEX payments_payer_route"),
        "{by_payer}"
    );
    let pass = plan(
        "SELECT 1 FROM payments WHERE payer = 'X' COLLATE NOCASE AND route = 'r' \
         AND created_ms >= 5 AND state IN ('settled') LIMIT 1",
    );
    assert!(
        pass.contains("INDEX payments_payer_route (payer=? AND route=? AND created_ms>?)"),
        "{pass}"
    );
    let live = plan("SELECT id FROM payments WHERE valid_before > 5 AND state <> 'released'");
    assert!(live.contains("INDEX payments_valid_before"), "{live}");
}

#[tokio::test]
async fn a_layout_1_ledger_opens_with_its_rows_and_without_the_old_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    {
        let ledger = open_at(&path, true);
        ledger.insert(sample_record(1)).await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE INDEX payments_payer ON payments (payer COLLATE NOCASE); \
         CREATE INDEX payments_route ON payments (route); \
         CREATE INDEX payments_created ON payments (created_ms); \
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let ledger = open_at(&path, true);
    assert_eq!(ledger.summary().unwrap().total(), 1);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payments' AND sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        indexes,
        [
            "payments_payer_route",
            "payments_state",
            "payments_valid_before"
        ]
    );
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

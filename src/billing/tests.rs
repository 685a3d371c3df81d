//! The billing's schedule against a clock the test moves: a cutoff closes what came before it,
//! once; a cutoff missed while down is made up; lines after it wait for the next one.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Billing;
use crate::clock::Clock;
use crate::config::reload::LiveConfig;
use crate::config::{CompileContext, compile};
use crate::ledger::{Ledger, LedgerOptions, TabLine};
use crate::proxy::toll::TollState;

/// A clock the test sets.
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_secs(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

const DAY: u64 = 86_400;
/// 2026-12-02T00:00:00Z.
const MIDNIGHT: u64 = 1_796_169_600;

/// The benches' base config (`tests/fixtures/base.toml`).
const BASE: &str = include_str!("../../tests/fixtures/base.toml");

/// `acme`'s tab, closing daily at 06:00 UTC.
const TAB: &str = r#"
[toll_booth]
[[toll_booth.tab]]
account = "acme"
signature_agent = "https://acme.test"
credit_limit = "USD 10"
cycle = { every = "1d", cutoff = "06:00" }
pay_within = "2d"
"#;

/// A `USD 0.001` line of `acme`'s tab.
fn line(n: u8, created_ms: u64) -> TabLine {
    crate::ledger::tests::sample_tab_line(n, "acme", 1000, created_ms)
}

fn billing(dir: &Path, clock: Arc<TestClock>) -> (Billing, Arc<Ledger>) {
    let ctx = CompileContext {
        version: 1,
        now: MIDNIGHT,
        previous: None,
        env: &|_| None,
    };
    let snapshot = compile(Path::new("gateway.toml"), &format!("{BASE}{TAB}"), &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
        .snapshot;
    let path = dir.join("ledger.sqlite");
    let ledger = Arc::new(Ledger::open(LedgerOptions::new(&path)).expect("ledger"));
    let toll =
        Arc::new(TollState::new(snapshot.toll.as_deref(), Some(ledger.clone())).expect("toll"));
    let config = Arc::new(LiveConfig::new(
        dir.join("gateway.toml"),
        snapshot,
        clock.clone(),
        Box::new(|_| {}),
    ));
    let metrics = Arc::new(crate::admin::Metrics::new().expect("metrics"));
    (Billing::new(config, toll, clock, metrics, &path), ledger)
}

#[tokio::test]
async fn each_cutoff_closes_what_came_before_it_once() {
    let dir = tempfile::tempdir().expect("dir");
    let six = MIDNIGHT + 6 * 3600;
    let clock = Arc::new(TestClock(AtomicU64::new(six - 60)));
    let (billing, ledger) = billing(dir.path(), clock.clone());
    ledger
        .put_tab_line(line(1, (six - 3600) * 1000))
        .await
        .expect("line");
    // 05:59: the last cutoff was yesterday's 06:00, before the line.
    assert!(billing.close_due().await.expect("tick").is_empty());
    clock.0.store(six + 1, Ordering::SeqCst);
    ledger
        .put_tab_line(line(2, (six + 1) * 1000))
        .await
        .expect("line");
    let made = billing.close_due().await.expect("tick");
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].cutoff_ms, made[0].lines), (six * 1000, 1));
    assert_eq!(made[0].due_ms, (six + 2 * DAY) * 1000);
    assert!(
        dir.path()
            .join(format!("invoices/{}.jsonl", made[0].id))
            .is_file()
    );
    assert!(billing.close_due().await.expect("tick").is_empty(), "once");
    assert_eq!(
        billing.tabs.tabs.owed("acme"),
        0,
        "lines written past the book count later"
    );

    // Down for two days: the next start makes up the latest cutoff with everything before it.
    drop(billing);
    clock.0.store(six + 2 * DAY + 5, Ordering::SeqCst);
    let (again, _) = self::billing(dir.path(), clock.clone());
    assert_eq!(
        again.tabs.tabs.owed("acme"),
        2000,
        "batch and open line owed"
    );
    let made = again.close_due().await.expect("tick");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].cutoff_ms, (six + 2 * DAY) * 1000);
    assert_eq!(made[0].lines, 1);
    let all = ledger
        .reader()
        .batches(Some("acme"), true)
        .expect("batches");
    assert_eq!(all.len(), 2);
    // Overdue from the first batch's due date on.
    let due = all[0].due_ms;
    assert_eq!(again.tabs.tabs.earliest_due("acme"), Some(due));
}

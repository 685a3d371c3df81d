//! Behaviour tests of the ledger against real files in temporary directories, and the helpers
//! they share (also used by `export` and the CLI tests).

mod batches;
mod durability;
mod reads;
mod writer_batches;
mod writes;

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

/// A charged request on `account`'s tab; `n` makes the commitment id and URL distinct.
pub(crate) fn sample_tab_line(n: u8, account: &str, amount: u64, created_ms: u64) -> TabLine {
    TabLine {
        commitment: alloy_primitives::hex::encode([n; 32]),
        account: account.into(),
        crawler: format!("{account}-bot"),
        route: "docs".into(),
        method: "GET".into(),
        url: format!("http://site/{n}"),
        status: 200,
        amount_micro_usd: amount,
        created_ms,
        batch: None,
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

/// Moves `id` to `to` (no transaction, no reason).
async fn mv(ledger: &Ledger, id: &str, to: State) -> Moved {
    ledger.transition(id, to, None, None).await.unwrap()
}

/// A record with a payload of about 2 KB, to fill a small ledger quickly.
fn bulky_record(n: u64) -> Record {
    let mut record = sample_record(n);
    record.payload = format!(r#"{{"padding":"{}"}}"#, "x".repeat(2000));
    record
}

//! Cutoffs, payments, webhook attempts and suspensions of the toll booth's tabs.

use super::*;

use super::sample_tab_line as line;

fn close(accounts: &[(&str, &str)], cutoff_ms: u64) -> BillingWrite {
    BillingWrite::Close {
        accounts: accounts
            .iter()
            .map(|(a, id)| ((*a).to_string(), (*id).to_string()))
            .collect(),
        cutoff_ms,
        due_ms: cutoff_ms + 1000,
    }
}

fn closed(done: BillingDone) -> Vec<Batch> {
    match done {
        BillingDone::Closed(b) => b,
        other => panic!("not a close: {other:?}"),
    }
}

#[tokio::test]
async fn a_cutoff_closes_each_accounts_earlier_lines_once() {
    let (_dir, ledger) = temp_ledger();
    for l in [
        line(1, "acme", 2000, 10),
        line(2, "acme", 3000, 20),
        line(3, "bolt", 500, 30),
        line(4, "acme", 7000, 100), // after the cutoff
    ] {
        ledger.put_tab_line(l).await.unwrap();
    }
    let cut = close(
        &[("acme", "b-acme"), ("bolt", "b-bolt"), ("idle", "b-idle")],
        50,
    );
    let made = closed(ledger.billing(cut.clone()).await.unwrap());
    let totals: Vec<(&str, u64, u64)> = made
        .iter()
        .map(|b| (b.account.as_str(), b.lines, b.total_micro_usd))
        .collect();
    assert_eq!(totals, [("acme", 2, 5000), ("bolt", 1, 500)]);
    let reader = ledger.reader();
    assert_eq!(reader.batch_lines("b-acme").unwrap().len(), 2);
    assert_eq!(
        reader.open_tabs().unwrap(),
        [("acme".to_string(), 7000)],
        "the later line stays open"
    );
    // The same cutoff again: nothing new, even with a late line from before it.
    ledger.put_tab_line(line(5, "acme", 1, 40)).await.unwrap();
    assert!(closed(ledger.billing(cut).await.unwrap()).is_empty());
    assert_eq!(
        reader.batch("b-acme").unwrap().unwrap().total_micro_usd,
        5000
    );
    assert_eq!(reader.open_tabs().unwrap(), [("acme".to_string(), 7001)]);
    // The next cutoff takes both.
    let next = closed(
        ledger
            .billing(close(&[("acme", "b-acme-2")], 200))
            .await
            .unwrap(),
    );
    assert_eq!((next[0].lines, next[0].total_micro_usd), (2, 7001));
    assert_eq!(reader.batches(Some("acme"), true).unwrap().len(), 2);
}

#[tokio::test]
async fn a_batch_is_paid_once_and_deliveries_are_counted() {
    let (_dir, ledger) = temp_ledger();
    ledger
        .put_tab_line(line(1, "acme", 2000, 10))
        .await
        .unwrap();
    ledger.billing(close(&[("acme", "b1")], 50)).await.unwrap();
    let paid = |by: &str| BillingWrite::Paid {
        id: "b1".into(),
        by: by.into(),
    };
    assert_eq!(
        ledger.billing(paid("x402 0xaa")).await.unwrap(),
        BillingDone::Paid(true)
    );
    assert_eq!(
        ledger.billing(paid("admin: wire")).await.unwrap(),
        BillingDone::Paid(false)
    );
    let missing = BillingWrite::Paid {
        id: "nope".into(),
        by: "admin".into(),
    };
    assert_eq!(
        ledger.billing(missing).await.unwrap(),
        BillingDone::NoSuchBatch
    );
    for delivered in [false, false, true] {
        let attempt = BillingWrite::Delivery {
            id: "b1".into(),
            delivered,
        };
        ledger.billing(attempt).await.unwrap();
    }
    let b = ledger.reader().batch("b1").unwrap().unwrap();
    assert_eq!(
        b.paid_by.as_deref(),
        Some("x402 0xaa"),
        "the first payment stays"
    );
    assert_eq!(b.paid_ms, Some(TEST_NOW_MS));
    assert_eq!((b.attempts, b.delivered_ms), (3, Some(TEST_NOW_MS)));
    assert!(ledger.reader().batches(None, true).unwrap().is_empty());
}

#[tokio::test]
async fn suspensions_are_kept() {
    let (dir, ledger) = temp_ledger();
    let suspend = |account: &str, suspended| BillingWrite::Suspend {
        account: account.into(),
        suspended,
    };
    ledger.billing(suspend("acme", true)).await.unwrap();
    ledger.billing(suspend("bolt", true)).await.unwrap();
    ledger.billing(suspend("bolt", false)).await.unwrap();
    drop(ledger);
    let again = open_at(&dir.path().join("ledger.db"), true);
    assert_eq!(again.reader().suspended_accounts().unwrap(), ["acme"]);
}

//! Measures payment-ledger inserts of accepted payments from 64 concurrent tokio tasks: group
//! commit (one fsync per batch of queued writes) against one transaction, so one fsync, per
//! record. Each iteration inserts into a fresh database under `CARGO_TARGET_TMPDIR` (the target
//! directory's disk: a tmpfs `/tmp` would make fsync free and the comparison meaningless);
//! opening it and closing it are not timed.
//!
//! Run with: `cargo bench --bench ledger` (about 30 s).
//!
//! ## Results
//! Measured with `cargo bench --bench ledger` (release, Rust 1.95, SQLite 3 bundled by rusqlite
//! 0.37) on a 2-core VM, ext4 on a virtio disk, while other builds shared the machine; two runs:
//!
//! | mode | records per iteration | throughput (median of run 1 / run 2) |
//! |---|---:|---:|
//! | group commit (batches of what is queued, ≤ 512) | 4,096 | 21,100 / 17,600 records/s |
//! | one transaction (one fsync) per record | 256 | 676 / 449 records/s |
//!
//! With 64 tasks each awaiting its insert, at most 64 writes are queued, so batches are ≤ 64
//! records: group commit is ≈ 30–40× the per-record fsync baseline here, which is bound by the
//! disk's fsync latency (≈ 1.5–2 ms).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use x402_gateway::ledger::{Inserted, Ledger, LedgerOptions, Record, State};

const TASKS: u64 = 64;

fn accepted_payment(n: u64) -> Record {
    Record {
        id: format!("{n:032x}"),
        chain_id: 8453,
        asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".to_owned(),
        payer: format!("0x{n:040x}"),
        nonce: format!("0x{n:064x}"),
        route: "weather".to_owned(),
        network: "base".to_owned(),
        amount: "10000".to_owned(),
        policy: "settle_after".to_owned(),
        version: 2,
        payload: format!(
            r#"{{"x402Version":2,"payload":{{"signature":"0x{n:0130x}","authorization":{{"from":"0x{n:040x}","to":"0x{n:040x}","value":"10000","validAfter":"0","validBefore":"1800000000","nonce":"0x{n:064x}"}}}}}}"#
        ),
        requirements: r#"{"scheme":"exact","network":"base","maxAmountRequired":"10000","payTo":"0x0000000000000000000000000000000000000001","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","maxTimeoutSeconds":60}"#.to_owned(),
        valid_before: 1_800_000_000,
        state: State::Reserved,
        transaction: None,
        reason: None,
        created_ms: 1_700_000_000_000 + n,
        updated_ms: 1_700_000_000_000 + n,
        attempts: 0,
    }
}

/// Inserts `records` payments from [`TASKS`] tasks, each awaiting its inserts one by one.
async fn insert_from_tasks(ledger: &Ledger, records: u64) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for n in (task..records).step_by(TASKS as usize) {
                    let inserted = ledger.insert(accepted_payment(n)).await;
                    assert_eq!(inserted, Ok(Inserted::New));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an insert task panicked");
    }
}

fn inserts(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("ledger_insert_64_tasks");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    // Fewer records without group commit: each costs a full fsync.
    for (name, group_commit, records) in [
        ("group_commit", true, 4096),
        ("sync_per_record", false, 256),
    ] {
        group.throughput(Throughput::Elements(records));
        group.bench_function(BenchmarkId::new(name, records), |bencher| {
            bencher.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                        .expect("a temporary directory");
                    let mut options = LedgerOptions::new(dir.path().join("ledger.db"));
                    options.group_commit = group_commit;
                    let ledger = Ledger::open(options).expect("a new ledger");
                    let start = Instant::now();
                    runtime.block_on(insert_from_tasks(&ledger, records));
                    elapsed += start.elapsed();
                    assert!(ledger.commits() > 0);
                    drop(ledger);
                }
                elapsed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, inserts);
criterion_main!(benches);

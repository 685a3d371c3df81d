//! `settle = "background"`: verify, forward and answer at once; the ledger settles afterwards, in
//! Multicall3 batches from the gateway's own gas account. Each test runs its own chain (one drains
//! a payer, one kills the gateway), so nothing else shares its balances.

use std::collections::BTreeSet;

use alloy_primitives::{Address, B256, U256};
use futures::StreamExt;

use crate::challenge;
use crate::support::gateway::free_port;
use crate::support::node::{self, Signed};
use crate::support::{Gateway, Stack, chain, decode_b64_json, eventually, fresh_address};

const GAS_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";

/// A self-settling gateway whose `/bg/**` route settles in the background.
fn config(stack: &Stack, pay_to: &str, batch_wait_ms: u64) -> String {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let routes = "[[routes]]\npath = \"/bg/**\"\nprice = \"$0.001\"\nsettle = \"background\"\nmax_unsettled = \"$0.10\"\n";
    let mut config = Gateway::config(stack, &dead, pay_to, routes);
    config.push_str(&format!(
        "\n[chains.\"eip155:84532\"]\nrpc_url = \"{}\"\nsettle = \"onchain\"\nbatch_max = 50\nbatch_wait_ms = {batch_wait_ms}\n",
        stack.info.rpc
    ));
    config
}

/// (from, nonce) of a signed payment.
fn authorization(s: &Signed) -> (Address, B256) {
    let payload = decode_b64_json(&s.value);
    let a = &payload["payload"]["authorization"];
    (
        a["from"].as_str().expect("from").parse().expect("address"),
        a["nonce"].as_str().expect("nonce").parse().expect("nonce"),
    )
}

/// Sends every payment, 16 at a time; the statuses.
async fn send_all(gw: &Gateway, path: &str, payments: &[Signed]) -> Vec<(u16, Option<String>)> {
    let client = reqwest::Client::new();
    futures::stream::iter(payments)
        .map(|s| {
            let req = client.get(gw.url(path)).header(&s.header, &s.value);
            async move {
                let r = req.send().await.expect("send");
                let settlement = r
                    .headers()
                    .get("payment-response")
                    .map(|v| v.to_str().expect("ascii").to_string());
                (r.status().as_u16(), settlement)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// The ledger as `x402-gateway ledger export --format json` prints it.
fn ledger(gw: &Gateway) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_x402-gateway"))
        .args(["ledger", "export", "--format", "json", "--config"])
        .arg(gw.config_path())
        .output()
        .expect("ledger export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ledger JSON")
}

fn states(rows: &[serde_json::Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["state"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Whether the ledger shows `n` payments `settled` within `secs`.
async fn ledger_settles(gw: &Gateway, n: usize, secs: u64) -> bool {
    eventually(secs, || async {
        states(&ledger(gw))
            .iter()
            .filter(|s| *s == "settled")
            .count()
            == n
    })
    .await
}

/// Waits until `pay_to` holds `want`, then checks every payment's authorization is used.
async fn settled_on_chain(
    stack: &Stack,
    gw: &Gateway,
    pay_to: &str,
    want: U256,
    payments: &[Signed],
) {
    let settled = eventually(60, || async { stack.usdc_balance(pay_to).await == want }).await;
    let balance = stack.usdc_balance(pay_to).await;
    assert!(settled, "balance {balance}\n{}", gw.log());
    for s in payments {
        let (from, nonce) = authorization(s);
        assert!(chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await);
    }
}

async fn sign_for(
    stack: &Stack,
    gw: &Gateway,
    path: &str,
    payers: std::ops::Range<usize>,
    each: usize,
) -> Vec<Signed> {
    let (v2, _) = challenge(gw, path).await;
    let mut all = Vec::new();
    for p in &stack.info.payers[payers] {
        all.extend(node::sign_many(2, &p.private_key, &v2["accepts"][0], each).await);
    }
    all
}

#[tokio::test]
async fn two_hundred_background_payments_are_each_settled_once_and_one_bad_one_sinks_nothing() {
    let stack = Stack::start();
    let pay_to = fresh_address();
    let gw = Gateway::start_with_env(
        &config(&stack, &pay_to, 1500),
        &[("GATEWAY_GAS_KEY", GAS_KEY)],
    )
    .await;
    let path = "/bg/item";
    let payments = sign_for(&stack, &gw, path, 0..5, 40).await;
    // A sixth payer pays once, then empties their account before the batch goes out.
    let cheat = &stack.info.payers[5];
    let bad = sign_for(&stack, &gw, path, 5..6, 1).await;
    let answers = send_all(&gw, path, &bad).await;
    assert_eq!(answers[0].0, 200, "{answers:?}\n{}", gw.log());
    chain::drain(
        &stack.info.rpc,
        &stack.info.usdc,
        &cheat.address,
        &fresh_address(),
    )
    .await;

    let answers = send_all(&gw, path, &payments).await;
    for (status, settlement) in &answers {
        assert_eq!(*status, 200, "{answers:?}\n{}", gw.log());
        // Answered before settlement: success, no transaction yet.
        let s = decode_b64_json(settlement.as_deref().expect("PAYMENT-RESPONSE"));
        assert_eq!(s["success"], true, "{s}");
        assert_eq!(s["transaction"], "", "{s}");
    }
    assert_eq!(stack.origin_log(path).await.len(), 201);

    let want = U256::from(200 * 1000);
    settled_on_chain(&stack, &gw, &pay_to, want, &payments).await;
    let (from, nonce) = authorization(&bad[0]);
    assert!(!chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await);
    // Settled in batches, recorded in the ledger.
    let rows = eventually(10, || async {
        let rows = ledger(&gw);
        states(&rows).iter().filter(|s| *s == "settled").count() == 200
            && states(&rows).iter().any(|s| s == "failed")
    })
    .await;
    let all = ledger(&gw);
    assert!(rows, "{:?}", states(&all));
    let txs: BTreeSet<&str> = all
        .iter()
        .filter(|r| r["state"] == "settled")
        .filter_map(|r| r["transaction"].as_str())
        .collect();
    assert!(
        txs.len() <= 10,
        "200 payments in {} transactions",
        txs.len()
    );
    let failed: Vec<_> = all.iter().filter(|r| r["state"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["payer"].as_str().map(str::to_lowercase),
        Some(cheat.address.to_lowercase())
    );
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("x402_settle_batch_size_count"),
        "{metrics}"
    );
}

#[tokio::test]
async fn kill_9_with_settlements_pending_loses_nothing_and_replays_nothing() {
    let stack = Stack::start();
    let pay_to = fresh_address();
    let env = [("GATEWAY_GAS_KEY", GAS_KEY)];
    // Batches wait a minute: every settlement is still pending when the gateway dies.
    let mut gw = Gateway::start_with_env(&config(&stack, &pay_to, 60_000), &env).await;
    let path = "/bg/kill";
    let payments = sign_for(&stack, &gw, path, 0..4, 5).await;
    let answers = send_all(&gw, path, &payments).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::ZERO,
        "nothing settled yet"
    );
    // Three whose origin fails are given back: never settled, not even by the restart.
    let failing = "/bg/broken/status/503";
    let given_back = sign_for(&stack, &gw, failing, 0..1, 3).await;
    let answers = send_all(&gw, failing, &given_back).await;
    assert!(answers.iter().all(|(s, _)| *s == 503), "{answers:?}");

    gw.rewrite_config(&config(&stack, &pay_to, 100));
    gw.kill9_and_restart(&env).await;
    let want = U256::from(20 * 1000);
    settled_on_chain(&stack, &gw, &pay_to, want, &payments).await;
    // None of them buys a second delivery after the restart.
    let again = send_all(&gw, path, &payments).await;
    assert!(again.iter().all(|(s, _)| *s == 402), "{again:?}");
    assert_eq!(stack.origin_log(path).await.len(), 20);
    // The chain moves first; the ledger's `settled` follows in the same run.
    assert!(
        ledger_settles(&gw, 20, 10).await,
        "{:?}",
        states(&ledger(&gw))
    );
    // Still exactly once: the balance did not move again.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(stack.usdc_balance(&pay_to).await, want);
    let released = states(&ledger(&gw));
    assert_eq!(
        released.iter().filter(|s| *s == "released").count(),
        3,
        "{released:?}"
    );
    for s in &given_back {
        let (from, nonce) = authorization(s);
        assert!(!chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await);
    }
}

#[tokio::test]
async fn the_official_clients_take_a_background_answer_without_a_transaction() {
    let stack = Stack::shared();
    let pay_to = fresh_address();
    let gw = Gateway::start_with_env(
        &config(stack, &pay_to, 100),
        &[("GATEWAY_GAS_KEY", GAS_KEY)],
    )
    .await;
    for client in ["v2", "v1"] {
        let url = gw.url(&format!("/bg/{client}"));
        let (r, s) = node::pay_settled(client, &url, &stack.payer().private_key).await;
        assert_eq!(r.status, 200, "{client}: {r:?}\n{}", gw.log());
        assert_eq!(s["success"], true, "{client}: {s}");
    }
    let want = U256::from(2000);
    let settled = eventually(30, || async { stack.usdc_balance(&pay_to).await == want }).await;
    assert!(settled, "{}", gw.log());
}

#[tokio::test]
async fn a_ledger_that_cannot_write_refuses_the_payment_before_the_origin() {
    let stack = Stack::shared();
    let pay_to = fresh_address();
    let routes = "[[routes]]\npath = \"/full/**\"\nprice = \"$0.001\"\n";
    let mut config = Gateway::config(stack, &stack.info.facilitator, &pay_to, routes);
    // A ledger capped at a few pages: it fills after a handful of payments, as a full disk would.
    config.push_str("\n[ledger]\nmax_size_mb = 0.1\n");
    let gw = Gateway::start(&config).await;
    let path = "/full/x";
    let (v2, _) = challenge(&gw, path).await;
    let payer = stack.payer();
    let payments = node::sign_many(2, &payer.private_key, &v2["accepts"][0], 200).await;
    let mut served = 0;
    let mut refused = None;
    let client = reqwest::Client::new();
    for s in &payments {
        let r = client
            .get(gw.url(path))
            .header(&s.header, &s.value)
            .send()
            .await
            .expect("send");
        match r.status().as_u16() {
            200 => served += 1,
            503 => {
                assert!(r.headers().contains_key("retry-after"));
                refused = Some(r.text().await.expect("body"));
                break;
            }
            other => panic!("{other}: {}", r.text().await.unwrap_or_default()),
        }
    }
    let body = refused.unwrap_or_else(|| panic!("never refused after {served}\n{}", gw.log()));
    assert!(body.contains("ledger_unavailable"), "{body}");
    assert_eq!(
        stack.origin_log(path).await.len(),
        served,
        "the refused payment reached the origin"
    );
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(1000 * served as u64)
    );
}

/// The anvil process serving `rpc` (its `--port`).
fn anvil_pid(rpc: &str) -> u32 {
    let port = rpc.rsplit(':').next().expect("port").trim_end_matches('/');
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let args = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = args.split(|b| *b == 0).collect();
            comm.trim() == "anvil"
                && args
                    .windows(2)
                    .any(|w| w == [&b"--port"[..], port.as_bytes()])
        })
        .expect("anvil process")
}

/// Stops a process (`SIGSTOP`) until dropped, as if its machine went away and came back.
struct Stopped(u32);

impl Stopped {
    fn signal(pid: u32, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {signal} {pid}");
    }

    fn new(pid: u32) -> Stopped {
        Self::signal(pid, "-STOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        Self::signal(self.0, "-CONT");
    }
}

#[tokio::test]
async fn a_chain_that_stalls_with_batches_queued_settles_every_payment_once_when_back() {
    let stack = Stack::start();
    let pay_to = fresh_address();
    let env = [("GATEWAY_GAS_KEY", GAS_KEY)];
    // Batches of 4, two at a time; balances cached through the stall; short chain timeouts.
    let mut config = config(&stack, &pay_to, 100).replace("batch_max = 50", "batch_max = 4");
    config.push_str(
        "batches_in_flight = 2\nchain_cache_ms = 600000\nrpc_timeout_ms = 500\nreceipt_timeout_ms = 2000\n",
    );
    let gw = Gateway::start_with_env(&config, &env).await;
    let path = "/bg/stall";
    let warm = sign_for(&stack, &gw, path, 0..5, 1).await;
    let payments = sign_for(&stack, &gw, path, 0..5, 40).await;
    // One payment per payer while the chain is up: their balances are cached.
    assert!(
        send_all(&gw, path, &warm)
            .await
            .iter()
            .all(|(s, _)| *s == 200)
    );
    let want = U256::from(5 * 1000);
    settled_on_chain(&stack, &gw, &pay_to, want, &warm).await;

    // The runs under way, sampled from `/metrics` until the end of the test.
    let metrics = gw.admin("/metrics");
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let sampler = tokio::spawn({
        let peak = peak.clone();
        async move {
            loop {
                if let Ok(r) = reqwest::get(&metrics).await
                    && let Ok(text) = r.text().await
                    && let Some(n) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("x402_settle_runs_in_flight "))
                        .and_then(|n| n.trim().parse::<i64>().ok())
                {
                    peak.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    });
    let stalled = Stopped::new(anvil_pid(&stack.info.rpc));
    let answers = send_all(&gw, path, &payments).await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200),
        "{answers:?}\n{}",
        gw.log()
    );
    // Batches are tried against a chain that does not answer (every call times out) and put
    // back in the queue, which grows meanwhile.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    drop(stalled);

    let want = U256::from(205 * 1000);
    settled_on_chain(&stack, &gw, &pay_to, want, &payments).await;
    assert!(
        ledger_settles(&gw, 205, 20).await,
        "{:?}\n{}",
        states(&ledger(&gw)),
        gw.log()
    );
    // One send at a time per account: no transaction ever raced another for its nonce.
    let log = gw.log();
    for clash in ["replacement transaction underpriced", "nonce too low"] {
        assert!(!log.contains(clash), "{clash}\n{log}");
    }
    // 50 batches waited, never more than two under way at once.
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(peak, 2, "runs under way at most");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        want,
        "settled exactly once"
    );
}

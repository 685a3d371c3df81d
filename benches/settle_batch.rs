//! Settled payments per second on a real chain (anvil with Circle's USDC): Multicall3 batches of
//! `SETTLE_BENCH_BATCH` (100, four transactions in flight as the worker sends them) vs one
//! `transferWithAuthorization` transaction each, same run.
//! Run by `benches/load/settle.sh`, which starts the chain and passes `SETTLE_BENCH_RPC`,
//! `SETTLE_BENCH_USDC`, `SETTLE_BENCH_PAYER_KEY` and `SETTLE_BENCH_GAS_KEY`; without them
//! (as under `cargo test --all-targets`) it prints that it was skipped.
//!
//! DESIGN target: ≥ 500 settled/s batched. Figures: `benches/README.md`.

#[path = "common/sign.rs"]
mod sign;

use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use sign::{Terms, sign};
use x402_gateway::evm::ExactAuthorization;
use x402_gateway::evm::batch::{BatchOutcome, MULTICALL3};
use x402_gateway::evm::settle::{OnchainSettings, OnchainSettler};
use x402_gateway::facilitator::Settler;
use x402_gateway::x402::Version;
use x402_gateway::x402::settlement::Payment;

/// Batches in flight at once.
const IN_FLIGHT: usize = 4;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn payload(auth: &ExactAuthorization) -> serde_json::Value {
    serde_json::json!({
        "x402Version": 2,
        "accepted": {"network": "eip155:84532"},
        "payload": sign::exact_payload(auth),
    })
}

fn main() {
    let (Some(rpc), Some(usdc), Some(payer), Some(gas)) = (
        env("SETTLE_BENCH_RPC"),
        env("SETTLE_BENCH_USDC"),
        env("SETTLE_BENCH_PAYER_KEY"),
        env("SETTLE_BENCH_GAS_KEY"),
    ) else {
        println!("settle_batch: skipped (run benches/load/settle.sh)");
        return;
    };
    let n: usize = env("SETTLE_BENCH_N")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let single_n: usize = env("SETTLE_BENCH_SINGLE_N")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let batch: usize = env("SETTLE_BENCH_BATCH")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let usdc: Address = usdc.parse().expect("usdc address");
    let to = Address::repeat_byte(0x5e);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let settler = OnchainSettler::new(OnchainSettings {
            chain_id: 84532,
            rpc_url: rpc,
            gas_key: gas,
            max_gas_price_wei: u128::MAX,
            receipt_timeout: Duration::from_secs(60),
            rpc_timeout: Duration::from_secs(10),
            batch_max: batch,
            batch_wait: Duration::ZERO,
            batches_in_flight: IN_FLIGHT,
            multicall: MULTICALL3,
        })
        .expect("settler");

        let terms = Terms {
            token: usdc,
            to,
            value: U256::from(1),
            chain_id: 84532,
            name: "USDC".into(),
            version: "2".into(),
        };
        let auths = sign(&payer, &terms, n, 1);
        let started = Instant::now();
        let mut settled = 0;
        // As the worker does: several batches in flight, one account's nonces.
        for wave in auths.chunks(batch * IN_FLIGHT) {
            let runs = wave.chunks(batch).map(|chunk| {
                let refs: Vec<&ExactAuthorization> = chunk.iter().collect();
                let settler = &settler;
                async move { settler.settle_batch(usdc, &refs).await.expect("batch") }
            });
            for outcomes in futures::future::join_all(runs).await {
                settled += outcomes
                    .iter()
                    .filter(|o| matches!(o, BatchOutcome::Settled(_)))
                    .count();
            }
        }
        let batched = settled as f64 / started.elapsed().as_secs_f64();
        assert_eq!(settled, n, "every authorization of the batches settled");

        let singles = sign(&payer, &terms, single_n, 2);
        let started = Instant::now();
        let requirements = serde_json::json!({"asset": usdc.to_checksum(None)});
        for auth in &singles {
            let payload = payload(auth);
            let payment = Payment {
                version: Version::V2,
                network: "eip155:84532",
                token: usdc,
                auth,
                payload: &payload,
                requirements: &requirements,
            };
            let r = settler.settle(&payment).await.expect("settle");
            assert!(r.success, "{r:?}");
        }
        let single = single_n as f64 / started.elapsed().as_secs_f64();
        println!(
            "settle_batch: batched ({batch} per tx, {IN_FLIGHT} tx in flight): {batched:.0} settled/s ({n} payments); one tx each: {single:.0} settled/s ({single_n} payments); {:.1}x",
            batched / single
        );
    });
}

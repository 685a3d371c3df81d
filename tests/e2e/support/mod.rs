//! The e2e harness: real processes on 127.0.0.1 only.
//!
//! `Stack` is `tests/harness/stack.mjs` (anvil with Circle's USDC at the Base Sepolia address, the
//! official x402 facilitator, a recording origin); `Gateway` is the real binary with a temporary
//! config; `pay`/`sign` run the official clients; `chain` reads balances and authorization state.

pub mod chain;
pub mod crawler;
pub mod dns;
pub mod forward;
pub mod gateway;
pub mod lenient_origin;
pub mod list_server;
pub mod node;
pub mod tls;
pub mod webhook;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use alloy_primitives::{Address, keccak256};
use serde::Deserialize;

pub use gateway::Gateway;

/// `tests/harness`.
pub fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/harness")
}

#[derive(Debug, Clone, Deserialize)]
pub struct Payer {
    pub address: String,
    #[serde(rename = "privateKey")]
    pub private_key: String,
}

/// What `stack.mjs` prints when ready.
#[derive(Debug, Clone, Deserialize)]
pub struct StackInfo {
    pub rpc: String,
    pub usdc: String,
    pub facilitator: String,
    pub origin: String,
    pub payers: Vec<Payer>,
}

/// A running payment world. Dropping it (or the test process exiting) stops it: the stack exits when
/// its stdin closes.
pub struct Stack {
    pub info: StackInfo,
    child: Mutex<Child>,
    _stdin: Mutex<Option<ChildStdin>>,
}

impl Stack {
    /// Starts a private stack (for tests that inject facilitator faults).
    pub fn start() -> Stack {
        let harness = harness_dir();
        assert!(
            harness.join("node_modules").is_dir(),
            "tests/harness/node_modules is missing: run `npm ci --prefix tests/harness` (./scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg("stack.mjs")
            .current_dir(&harness)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node stack.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("stack line");
        let info: StackInfo =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stack said {line:?}: {e}"));
        let stdin = child.stdin.take();
        Stack {
            info,
            child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        }
    }

    /// The stack shared by tests that do not inject faults.
    pub fn shared() -> &'static Stack {
        static SHARED: OnceLock<Stack> = OnceLock::new();
        SHARED.get_or_init(Stack::start)
    }

    /// A payer key, spread over the funded payers.
    pub fn payer(&self) -> &Payer {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let i = NEXT.fetch_add(1, Ordering::Relaxed) as usize;
        &self.info.payers[i % self.info.payers.len()]
    }

    /// What the origin received under a path prefix.
    pub async fn origin_log(&self, prefix: &str) -> Vec<serde_json::Value> {
        let url = format!("{}/__log?prefix={prefix}", self.info.origin);
        reqwest::get(url)
            .await
            .expect("origin log")
            .json()
            .await
            .expect("log json")
    }

    /// Pays `url` with the official v2 client (`@x402/fetch`) as the first funded payer (the one
    /// a private stack's tests use).
    pub async fn pay_v2(&self, url: &str) -> node::PayResult {
        node::pay("v2", url, &self.info.payers[0].private_key, &[]).await
    }

    /// USDC balance of `owner` on the stack's chain.
    pub async fn usdc_balance(&self, owner: &str) -> alloy_primitives::U256 {
        chain::balance_of(&self.info.rpc, &self.info.usdc, owner).await
    }

    /// The facilitator's counters (`GET /__stats`).
    pub async fn facilitator_stats(&self) -> serde_json::Value {
        reqwest::get(format!("{}/__stats", self.info.facilitator))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    /// Calls a facilitator test control.
    pub async fn facilitator_control(&self, path: &str, body: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.info.facilitator))
            .json(&body)
            .send()
            .await
            .expect("facilitator control");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A new address nobody holds a key for: a fresh payTo whose balance starts at zero.
pub fn fresh_address() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::Instant::now()
    );
    Address::from_slice(&keccak256(seed.as_bytes())[12..]).to_checksum(None)
}

/// A unique path prefix for one test, so origin logs never mix.
pub fn unique_prefix(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("/t/{name}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Decodes a base64 JSON header.
pub fn decode_b64_json(value: &str) -> serde_json::Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {value}"));
    serde_json::from_slice(&bytes).expect("json")
}

/// Waits until `f` returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// The sum of the samples of `name` whose labels contain `label` (every sample if `None`).
pub fn metric(metrics: &str, name: &str, label: Option<&str>) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let series_name = series.split('{').next().unwrap_or("");
            series_name == name && label.is_none_or(|lab| series.contains(lab))
        })
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum()
}

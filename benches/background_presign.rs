//! Pre-signs unique payments for the background load bench (`benches/load/background.sh`): asks
//! the gateway at `BG_URL` for its 402, signs `BG_COUNT` payments for its first requirement,
//! spread over the payer keys in `BG_KEYS` (comma-separated), and writes one `PAYMENT-SIGNATURE`
//! value per line to `BG_OUT`. Without `BG_URL` (as under `cargo test --all-targets`) it prints
//! that it was skipped.

#[path = "common/sign.rs"]
mod sign;

use std::io::Write;

use alloy_primitives::{Address, U256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sign::{Terms, exact_payload};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() {
    let (Some(url), Some(keys), Some(out)) = (env("BG_URL"), env("BG_KEYS"), env("BG_OUT")) else {
        println!("background_presign: skipped (run benches/load/background.sh)");
        return;
    };
    let count: usize = env("BG_COUNT")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let required = runtime.block_on(async {
        let r = reqwest::get(&url).await.expect("GET the priced path");
        assert_eq!(r.status(), 402, "{url} is not priced");
        let header = r.headers()["payment-required"]
            .to_str()
            .expect("ascii")
            .to_string();
        let json = STANDARD.decode(header).expect("base64");
        serde_json::from_slice::<serde_json::Value>(&json).expect("json")
    });
    let requirement = required["accepts"][0].clone();
    let text = |k: &str| requirement[k].as_str().expect(k).to_string();
    let terms = Terms {
        token: text("asset").parse::<Address>().expect("asset"),
        to: text("payTo").parse::<Address>().expect("payTo"),
        value: U256::from_str_radix(&text("amount"), 10).expect("amount"),
        chain_id: text("network")
            .trim_start_matches("eip155:")
            .parse()
            .expect("chain id"),
        name: requirement["extra"]["name"]
            .as_str()
            .expect("name")
            .to_string(),
        version: requirement["extra"]["version"]
            .as_str()
            .expect("version")
            .to_string(),
    };
    let keys: Vec<&str> = keys.split(',').collect();
    let per_key = count.div_ceil(keys.len());
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out).expect("BG_OUT"));
    let salt = (std::process::id() % 251) as u8 + 1;
    let signed: Vec<Vec<_>> = keys
        .iter()
        .map(|k| sign::sign(k, &terms, per_key, salt))
        .collect();
    // Interleaved, so consecutive requests come from different payers.
    for i in 0..per_key {
        for list in &signed {
            let payload = serde_json::json!({
                "x402Version": 2,
                "payload": exact_payload(&list[i]),
                "accepted": requirement,
                "resource": required["resource"],
            });
            writeln!(file, "{}", STANDARD.encode(payload.to_string())).expect("write");
        }
    }
    file.flush().expect("flush");
    println!(
        "background_presign: {} payments in {out}",
        per_key * keys.len()
    );
}

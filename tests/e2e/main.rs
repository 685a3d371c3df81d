//! End-to-end tests: the real gateway binary in front of a recording origin, paid by the official
//! x402 clients through the official facilitator on a local anvil chain with Circle's USDC.
//! Only 127.0.0.1 is used. `./scripts/test` installs the Node harness first.

mod support;

mod adversarial;
mod background;
mod canonical_view;
mod cdp_auth;
mod cli_check;
mod connections;
mod facilitator_faults;
mod forged_flood;
mod hot_reload;
mod http_surface;
mod local_verify;
mod malformed_local;
mod official_clients;
mod onchain;
mod origins;
mod paid_not_delivered;
mod passes;
mod path_safety;
mod payment_identifier;
mod reconcile;
mod settle_before;
mod settle_unknown;
mod sign_in;
mod tab_billing;
mod tls;
mod toll_booth;
mod toll_ip_lists;
mod upgrades;

use support::{Gateway, Stack};

/// GETs `path` unpaid and returns (decoded `PAYMENT-REQUIRED`, v1 JSON body).
pub async fn challenge(gw: &Gateway, path: &str) -> (serde_json::Value, serde_json::Value) {
    let resp = reqwest::get(gw.url(path)).await.expect("get");
    assert_eq!(resp.status(), 402, "{path}");
    let header = resp
        .headers()
        .get("payment-required")
        .expect("PAYMENT-REQUIRED")
        .to_str()
        .expect("ascii")
        .to_string();
    let body: serde_json::Value = resp.json().await.expect("json body");
    (support::decode_b64_json(&header), body)
}

/// A gateway selling everything under `prefix` for `price` to a fresh payTo, on the shared stack.
pub async fn priced_gateway(stack: &Stack, prefix: &str, price: &str) -> (Gateway, String) {
    let pay_to = support::fresh_address();
    let routes = format!(
        "[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"{price}\"\ndescription = \"test resource\"\nmime_type = \"application/json\"\n"
    );
    let gw = Gateway::start_with(stack, &pay_to, &routes).await;
    (gw, pay_to)
}

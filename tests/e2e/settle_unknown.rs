//! When a settlement's outcome is unknown (the facilitator settled on chain but then answered 502, or
//! it settled and did not answer within `settle_timeout_ms`), the client gets 503 `settlement_unknown`
//! with Retry-After, never a 402 that invites paying again; the chain shows exactly one charge, and the
//! same payment header sent again is refused without being charged twice. Each test has its own stack,
//! since faults are injected into its facilitator.

use std::time::{Duration, Instant};

use alloy_primitives::U256;
use serde_json::{Value, json};

use crate::challenge;
use crate::support::{Gateway, Stack, eventually, fresh_address, node, unique_prefix};

const PRICE: u64 = 1000; // $0.001 in USDC atomic units

/// A private stack, and a gateway on it selling `prefix/**` for $0.001 to a fresh payTo, with a 2 s
/// settle timeout.
async fn gateway(name: &str) -> (Stack, Gateway, String, String) {
    let stack = Stack::start();
    let prefix = unique_prefix(name);
    let pay_to = fresh_address();
    let routes =
        format!("[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let config = Gateway::config(&stack, &stack.info.facilitator, &pay_to, &routes);
    assert!(config.contains("settle_timeout_ms = 30000\n"), "{config}");
    let config = config.replace("settle_timeout_ms = 30000\n", "settle_timeout_ms = 2000\n");
    let gw = Gateway::start(&config).await;
    (stack, gw, pay_to, prefix)
}

async fn arm(stack: &Stack, mode: &str, hang_ms: u64) {
    stack
        .facilitator_control(
            "/__fail-settle",
            json!({"count": 1, "mode": mode, "hangMs": hang_ms}),
        )
        .await;
}

/// Sends one GET with a payment header; returns (status, Retry-After present, JSON body or Null).
async fn send(url: &str, header: &str, value: &str) -> (u16, bool, Value) {
    let resp = reqwest::Client::new()
        .get(url)
        .header(header, value)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

#[tokio::test]
async fn settled_then_502_gives_the_official_client_503_settlement_unknown_and_charges_once() {
    let (stack, gw, pay_to, prefix) = gateway("unknown502").await;
    arm(&stack, "settle-then-502", 0).await;

    let r = stack.pay_v2(&gw.url(&format!("{prefix}/r"))).await;

    assert_eq!(
        r.status,
        503,
        "never a 402 once settlement may have happened: {r:?}\n{}",
        gw.log()
    );
    let body: Value = serde_json::from_str(&r.body).expect("json body");
    assert_eq!(body["error"], "settlement_unknown", "{body}");
    assert!(r.headers.contains_key("retry-after"), "{r:?}");
    assert!(
        !r.body.contains("\"ok\":true"),
        "the origin's body was not released: {}",
        r.body
    );
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(PRICE),
        "settled on chain exactly once"
    );
}

#[tokio::test]
async fn a_header_resent_after_settled_then_502_is_refused_and_not_charged_twice() {
    let (stack, gw, pay_to, prefix) = gateway("unknown502-resend").await;
    let url = gw.url(&format!("{prefix}/r"));
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(2, &stack.info.payers[0].private_key, &v2["accepts"][0], &[]).await;
    arm(&stack, "settle-then-502", 0).await;

    let (status, retry_after, body) = send(&url, &s.header, &s.value).await;
    assert_eq!(
        (status, &body["error"]),
        (503, &json!("settlement_unknown")),
        "{body}\n{}",
        gw.log()
    );
    assert!(retry_after);
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(PRICE));

    let (again, _, body) = send(&url, &s.header, &s.value).await;
    assert_eq!(again, 402, "{body}\n{}", gw.log());
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(PRICE),
        "not charged twice"
    );
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        1,
        "the re-sent header never reached the origin"
    );
}

#[tokio::test]
async fn settlement_past_the_settle_timeout_gives_503_settlement_unknown_and_charges_once() {
    let (stack, gw, pay_to, prefix) = gateway("unknownhang").await;
    let url = gw.url(&format!("{prefix}/r"));
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(2, &stack.info.payers[0].private_key, &v2["accepts"][0], &[]).await;
    // The facilitator settles at once, then holds its answer 10 s: past the gateway's 2 s timeout.
    arm(&stack, "settle-then-hang", 10_000).await;

    let t = Instant::now();
    let (status, retry_after, body) = send(&url, &s.header, &s.value).await;
    let took = t.elapsed();
    assert_eq!(
        (status, &body["error"]),
        (503, &json!("settlement_unknown")),
        "{body}\n{}",
        gw.log()
    );
    assert!(retry_after);
    assert!(
        took < Duration::from_secs(6),
        "answered within the settle timeout: {took:?}"
    );

    let landed = eventually(15, || async {
        stack.usdc_balance(&pay_to).await == U256::from(PRICE)
    })
    .await;
    assert!(
        landed,
        "the settlement landed on chain: {}",
        stack.usdc_balance(&pay_to).await
    );

    let (again, _, body) = send(&url, &s.header, &s.value).await;
    assert_eq!(again, 402, "{body}\n{}", gw.log());
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(PRICE),
        "not charged twice"
    );
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        1,
        "the re-sent header never reached the origin"
    );
}

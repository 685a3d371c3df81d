//! When the facilitator is down, slow to confirm, or refuses to settle: paid routes never open,
//! free routes keep working, nothing paid is lost. Each test has its own stack, since faults are
//! injected into the facilitator.

use alloy_primitives::U256;
use serde_json::json;

use crate::challenge;
use crate::support::gateway::free_port;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, node, unique_prefix};

fn routes(prefix: &str) -> String {
    format!(
        "[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n\n[[routes]]\nname = \"free\"\npath = \"/free/**\"\nprice = \"free\"\n"
    )
}

/// A private stack (faults are injected into its facilitator), a gateway on it selling `prefix/**`
/// to a fresh payTo, and `mode` armed for the next settle.
async fn faulty(name: &str, mode: Option<&str>) -> (Stack, Gateway, String, String) {
    let stack = Stack::start();
    let prefix = unique_prefix(name);
    let pay_to = fresh_address();
    let gw = Gateway::start_with(&stack, &pay_to, &routes(&prefix)).await;
    if let Some(mode) = mode {
        stack
            .facilitator_control("/__fail-settle", json!({"count": 1, "mode": mode}))
            .await;
    }
    (stack, gw, pay_to, prefix)
}

#[tokio::test]
async fn facilitator_down_closes_paid_routes_and_keeps_free_ones() {
    let stack = Stack::shared();
    let prefix = unique_prefix("down");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let gw = Gateway::start(&Gateway::config(
        stack,
        &dead,
        &fresh_address(),
        &routes(&prefix),
    ))
    .await;

    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(2, &stack.payer().private_key, &v2["accepts"][0], &[]).await;
    let resp = reqwest::Client::new()
        .get(gw.url(&format!("{prefix}/r")))
        .header(&s.header, &s.value)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "facilitator_unavailable");
    assert!(stack.origin_log(&prefix).await.is_empty(), "never opened");

    let free = reqwest::get(gw.url("/free/page")).await.expect("free");
    assert_eq!(free.status(), 200);
    let status = gw.status().await;
    assert!(status["facilitator"]["last_error"].is_string(), "{status}");
}

#[tokio::test]
async fn settlement_failure_returns_402_and_drops_the_origin_body() {
    let (stack, gw, pay_to, prefix) = faulty("settlefail", Some("error")).await;

    let r = node::pay(
        "v2",
        &gw.url(&format!("{prefix}/secret")),
        &stack.info.payers[0].private_key,
        &[],
    )
    .await;

    assert_eq!(r.status, 402, "{r:?}");
    assert!(
        !r.body.contains("\"ok\":true"),
        "the origin's body was not released: {}",
        r.body
    );
    let settlement = decode_b64_json(&r.headers["payment-response"]);
    assert_eq!(settlement["success"], false);
    assert_eq!(settlement["errorReason"], "injected_failure");
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
}

#[tokio::test]
async fn settlement_pending_is_retried_once_and_succeeds() {
    let (stack, gw, pay_to, prefix) = faulty("pending", Some("pending")).await;

    let r = node::pay(
        "v2",
        &gw.url(&format!("{prefix}/slow")),
        &stack.info.payers[0].private_key,
        &[],
    )
    .await;

    assert_eq!(r.status, 200, "{r:?}\n{}", gw.log());
    assert_eq!(
        decode_b64_json(&r.headers["payment-response"])["success"],
        true
    );
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
    let stats: serde_json::Value = stack.facilitator_stats().await;
    assert_eq!(stats["settle"], 2, "one pending answer, one retry");
}

/// An HTTP 500 from `/settle` may hide a broadcast transaction: the client is told its payment
/// may have been taken (503, never a 402 inviting a second payment) and the claim is kept.
#[tokio::test]
async fn facilitator_http_500_on_settle_answers_503_and_keeps_the_claim() {
    let (stack, gw, _, prefix) = faulty("settle500", Some("http500")).await;
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(2, &stack.info.payers[0].private_key, &v2["accepts"][0], &[]).await;
    let client = reqwest::Client::new();
    let url = gw.url(&format!("{prefix}/r"));

    let first = client
        .get(&url)
        .header(&s.header, &s.value)
        .send()
        .await
        .expect("send");
    assert_eq!(first.status(), 503);
    assert_eq!(
        first.headers()["connection"],
        "close",
        "the gateway closes after a failed proxy"
    );
    assert!(first.headers().contains_key("retry-after"));
    let body: serde_json::Value = first.json().await.expect("json");
    assert_eq!(body["error"], "settlement_unknown");
    // Outcome unknown: the same authorization must not reach the origin a second time.
    let again = client
        .get(&url)
        .header(&s.header, &s.value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("second send: {e:?}\n{}", gw.log()));
    assert_eq!(again.status(), 402);
    assert_eq!(stack.origin_log(&prefix).await.len(), 1);
}

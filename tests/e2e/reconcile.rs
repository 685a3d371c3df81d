//! With the chain at hand (`[chains."eip155:84532"]`), a settlement whose outcome the facilitator
//! does not give is decided by `authorizationState`: a facilitator that settles and then answers
//! 502, one that hangs past the settle timeout, and one that answers `settlement_pending` and then
//! a (false) failure: each client gets the content exactly once and is charged exactly once. A
//! facilitator that fails without settling leaves the authorization unspent: 402, no charge.

use alloy_primitives::U256;
use serde_json::json;

use crate::support::{Gateway, Stack, fresh_address, unique_prefix};

const PRICE: u64 = 1000;

/// A private stack, a gateway verifying and reconciling on its chain, selling `prefix/**`, and
/// `mode` armed for the next settle.
async fn reconciling(name: &str, mode: &str, hang_ms: u64) -> (Stack, Gateway, String, String) {
    let stack = Stack::start();
    let prefix = unique_prefix(name);
    let pay_to = fresh_address();
    let routes = format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let mut config = Gateway::config(&stack, &stack.info.facilitator, &pay_to, &routes)
        .replace("settle_timeout_ms = 30000", "settle_timeout_ms = 2000");
    config.push_str(&format!(
        "\n[chains.\"eip155:84532\"]\nrpc_url = \"{}\"\nreconcile_wait_ms = 3000\n",
        stack.info.rpc
    ));
    let gw = Gateway::start(&config).await;
    stack
        .facilitator_control(
            "/__fail-settle",
            json!({"count": 1, "mode": mode, "hangMs": hang_ms}),
        )
        .await;
    (stack, gw, pay_to, prefix)
}

#[tokio::test]
async fn the_chain_decides_lost_settlement_answers_and_the_client_gets_its_content_once() {
    for (mode, hang_ms) in [
        ("settle-then-502", 0),
        ("settle-then-hang", 10_000),
        ("settle-then-pending-then-fail", 0),
    ] {
        let (stack, gw, pay_to, prefix) = reconciling("reconciled", mode, hang_ms).await;
        let r = stack.pay_v2(&gw.url(&format!("{prefix}/r"))).await;
        assert_eq!(r.status, 200, "{mode}: {r:?}\n{}", gw.log());
        assert!(
            r.body.contains("\"ok\":true"),
            "{mode}: the origin's body: {r:?}"
        );
        let settlement = crate::support::decode_b64_json(&r.headers["payment-response"]);
        assert_eq!(settlement["success"], true, "{mode}: {settlement}");
        assert_eq!(
            stack.usdc_balance(&pay_to).await,
            U256::from(PRICE),
            "{mode}: charged once"
        );
        assert_eq!(
            stack.origin_log(&prefix).await.len(),
            1,
            "{mode}: delivered once"
        );
    }
}

#[tokio::test]
async fn an_unspent_authorization_after_a_failed_settlement_gets_402_and_no_charge() {
    let (stack, gw, pay_to, prefix) = reconciling("unspent", "http500", 0).await;
    let r = stack.pay_v2(&gw.url(&format!("{prefix}/r"))).await;
    assert_eq!(r.status, 402, "{r:?}\n{}", gw.log());
    assert!(!r.body.contains("\"ok\":true"), "no content: {r:?}");
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
}

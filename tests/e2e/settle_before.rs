//! `settle = "before"`: the money moves first, the origin is asked only once it did. So the origin
//! never sees a request whose settlement failed, and a payer whose request then fails at the origin
//! has still paid (the policy for non-idempotent or expensive routes), with `PAYMENT-RESPONSE` on
//! whatever the origin answered.

use alloy_primitives::U256;
use serde_json::json;

use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, node, unique_prefix};

fn routes(prefix: &str) -> String {
    format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\nsettle = \"before\"\n")
}

#[tokio::test]
async fn settled_before_forwarding_even_when_the_origin_then_fails() {
    let stack = Stack::shared();
    let prefix = unique_prefix("before");
    let pay_to = fresh_address();
    let gw = Gateway::start_with(stack, &pay_to, &routes(&prefix)).await;
    for (i, path) in ["ok", "status/500/x"].into_iter().enumerate() {
        let r = node::pay(
            "v2",
            &gw.url(&format!("{prefix}/{path}")),
            &stack.payer().private_key,
            &[],
        )
        .await;
        let want = if i == 0 { 200 } else { 500 };
        assert_eq!(r.status, want, "{path}: {r:?}\n{}", gw.log());
        let settlement = decode_b64_json(&r.headers["payment-response"]);
        assert_eq!(settlement["success"], true, "{path}: {settlement}");
        let balance = stack.usdc_balance(&pay_to).await;
        assert_eq!(
            balance,
            U256::from(1000 * (i as u64 + 1)),
            "{path}: charged"
        );
    }
    assert_eq!(stack.origin_log(&prefix).await.len(), 2);
}

#[tokio::test]
async fn a_refused_settlement_never_reaches_the_origin() {
    let stack = Stack::start();
    let prefix = unique_prefix("before-refused");
    let pay_to = fresh_address();
    let gw = Gateway::start_with(&stack, &pay_to, &routes(&prefix)).await;
    stack
        .facilitator_control("/__fail-settle", json!({"count": 1, "mode": "error"}))
        .await;
    let r = stack.pay_v2(&gw.url(&format!("{prefix}/r"))).await;
    assert_eq!(r.status, 402, "{r:?}");
    assert!(
        stack.origin_log(&prefix).await.is_empty(),
        "never forwarded"
    );
    let balance = stack.usdc_balance(&pay_to).await;
    assert_eq!(balance, U256::ZERO);
}

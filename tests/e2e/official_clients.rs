//! The official clients pay through the gateway: the origin's body and a real settlement come back,
//! payTo's balance rises by exactly the price, the origin sees the request once.

use alloy_primitives::U256;

use crate::priced_gateway;
use crate::support::{Stack, chain, decode_b64_json, node, unique_prefix};

async fn pays_and_settles(client: &str, response_header: &str) {
    let stack = Stack::shared();
    let prefix = unique_prefix(&format!("pay-{client}"));
    let (gw, pay_to) = priced_gateway(stack, &prefix, "$0.001").await;
    let payer = stack.payer();
    let before = stack.usdc_balance(&payer.address).await;

    let r = node::pay(
        client,
        &gw.url(&format!("{prefix}/weather?city=lisbon")),
        &payer.private_key,
        &[],
    )
    .await;

    assert_eq!(r.status, 200, "{r:?}\n{}", gw.log());
    assert!(r.error.is_none(), "{r:?}");
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("origin json");
    assert_eq!(
        body["path"],
        format!("{prefix}/weather?city=lisbon"),
        "the origin's own body"
    );
    let settlement = decode_b64_json(
        r.headers
            .get(response_header)
            .unwrap_or_else(|| panic!("{response_header} in {r:?}")),
    );
    assert_eq!(settlement["success"], true);
    let tx = settlement["transaction"].as_str().expect("tx hash");
    assert!(tx.starts_with("0x") && tx.len() == 66, "{tx}");

    let (authorizer, nonce) = chain::authorization_used(&stack.info.rpc, tx)
        .await
        .expect("AuthorizationUsed in the receipt");
    assert_eq!(
        authorizer.to_checksum(None).to_lowercase(),
        payer.address.to_lowercase()
    );
    assert!(chain::authorization_state(&stack.info.rpc, &stack.info.usdc, authorizer, nonce).await);
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
    let after = stack.usdc_balance(&payer.address).await;
    assert!(before - after >= U256::from(1000), "payer paid");
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        1,
        "the origin saw the request exactly once"
    );
}

#[tokio::test]
async fn v2_fetch_client_pays_a_priced_route() {
    pays_and_settles("v2", "payment-response").await;
}

#[tokio::test]
async fn v1_legacy_fetch_client_pays_a_priced_route() {
    pays_and_settles("v1", "x-payment-response").await;
}

#[tokio::test]
async fn origin_error_is_passed_through_and_not_charged() {
    let stack = Stack::shared();
    let prefix = unique_prefix("origin500");
    let (gw, pay_to) = priced_gateway(stack, &prefix, "$0.001").await;
    let r = node::pay(
        "v2",
        &gw.url(&format!("{prefix}/status/500")),
        &stack.payer().private_key,
        &[],
    )
    .await;
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).expect("json")["status"],
        500
    );
    assert!(!r.headers.contains_key("payment-response"));
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
    assert_eq!(stack.origin_log(&prefix).await.len(), 1);
}

#[tokio::test]
async fn paid_streaming_response_passes_through() {
    let stack = Stack::shared();
    let prefix = unique_prefix("stream");
    let (gw, pay_to) = priced_gateway(stack, &prefix, "$0.002").await;
    let r = node::pay(
        "v2",
        &gw.url(&format!("{prefix}/stream")),
        &stack.payer().private_key,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n");
    assert_eq!(
        decode_b64_json(&r.headers["payment-response"])["success"],
        true
    );
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(2000));
}

#[tokio::test]
async fn origin_learns_the_payer_and_never_sees_payment_headers() {
    let stack = Stack::shared();
    let prefix = unique_prefix("payerhdr");
    let (gw, _) = priced_gateway(stack, &prefix, "$0.001").await;
    let payer = stack.payer();
    let r = node::pay(
        "v2",
        &gw.url(&format!("{prefix}/x")),
        &payer.private_key,
        &["--header", "X402-Payer: 0xspoofed"],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let log = stack.origin_log(&prefix).await;
    assert_eq!(log.len(), 1);
    let headers = &log[0]["headers"];
    assert!(
        headers.get("payment-signature").is_none() && headers.get("x-payment").is_none(),
        "{headers}"
    );
    assert_eq!(
        headers["x402-payer"].as_str().unwrap_or("").to_lowercase(),
        payer.address.to_lowercase()
    );
    assert_eq!(headers["x402-amount"], "1000");
    assert_eq!(headers["x402-network"], "eip155:84532");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
}

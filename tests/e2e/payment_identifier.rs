//! Idempotent retries with the `payment-identifier` extension, driven by the official
//! `@x402/extensions` client helper through `@x402/fetch`: the same id for the same request is
//! charged once, even when the client re-signs a fresh payment for the retry (that authorization
//! is never settled); the same id for another request is 409; a route that requires an id and
//! gets none answers 400.

use alloy_primitives::{Address, B256, U256};

use crate::challenge;
use crate::support::node::{self, ExtensionResult};
use crate::support::{Gateway, Stack, chain, decode_b64_json, fresh_address, unique_prefix};

async fn gateway(stack: &Stack, prefix: &str, mode: &str) -> (Gateway, String) {
    let pay_to = fresh_address();
    let routes = format!(
        "[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\npayment_identifier = \"{mode}\"\n"
    );
    (Gateway::start_with(stack, &pay_to, &routes).await, pay_to)
}

async fn pay_with_id(url: &str, key: &str, id: &str, extra: &[&str]) -> ExtensionResult {
    let mut args = vec!["payid", "--url", url, "--key", key, "--id", id];
    args.extend_from_slice(extra);
    let r = node::extensions(&args).await;
    assert!(r.error.is_none(), "{r:?}");
    r
}

/// (payer, nonce) of a payment header.
fn authorization(header: &str) -> (Address, B256) {
    let a = &decode_b64_json(header)["payload"]["authorization"];
    (
        a["from"].as_str().expect("from").parse().expect("address"),
        a["nonce"].as_str().expect("nonce").parse().expect("nonce"),
    )
}

#[tokio::test]
async fn the_same_id_for_the_same_request_is_charged_once_even_when_re_signed() {
    let stack = Stack::shared();
    let prefix = unique_prefix("payid-same");
    let (gw, pay_to) = gateway(stack, &prefix, "optional").await;
    let path = format!("{prefix}/report");
    let (v2, _) = challenge(&gw, &path).await;
    assert_eq!(
        v2["extensions"]["payment-identifier"]["info"]["required"], false,
        "{v2}"
    );
    let url = gw.url(&path);
    let key = &stack.payer().private_key;
    let id = format!(
        "pay_{}",
        prefix.trim_start_matches('/').replace(['/', '.'], "_")
    );

    let first = pay_with_id(&url, key, &id, &[]).await;
    assert_eq!(first.status, 200, "{first:?}\n{}", gw.log());
    // The client lost the answer and retries: a fresh signature under the same id.
    let retry = pay_with_id(&url, key, &id, &[]).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    let (h1, h2) = (
        first.payment_header.clone().unwrap(),
        retry.payment_header.clone().unwrap(),
    );
    assert_ne!(h1, h2, "the retry was re-signed");
    assert_eq!(
        first.headers.get("payment-response"),
        retry.headers.get("payment-response"),
        "the retry gets the first outcome"
    );
    // The very same header again is answered the same way.
    let again = reqwest::Client::new()
        .get(&url)
        .header("PAYMENT-SIGNATURE", &h1)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), 200);

    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(1000),
        "one charge"
    );
    let (from, nonce) = authorization(&h2);
    let used = chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await;
    assert!(!used, "the re-signed authorization was settled");
    let (from, nonce) = authorization(&h1);
    assert!(chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await);
    let seen = stack.origin_log(&path).await;
    assert_eq!(seen.len(), 3, "the origin is asked again for each retry");
    assert!(
        seen.iter()
            .skip(1)
            .all(|r| r["headers"]["x402-access"] == "replay")
    );
    assert!(
        gw.metrics()
            .await
            .contains("x402_idempotent_total{result=\"replayed\"} 2")
    );
}

#[tokio::test]
async fn the_same_id_for_another_request_is_a_conflict() {
    let stack = Stack::shared();
    let prefix = unique_prefix("payid-conflict");
    let (gw, pay_to) = gateway(stack, &prefix, "optional").await;
    let url = gw.url(&format!("{prefix}/orders"));
    let key = &stack.payer().private_key;
    let id = "order_0123456789abcdef-conflict";
    let post = |body: &'static str| ["--method", "POST", "--body", body];

    let first = pay_with_id(&url, key, id, &post("{\"qty\":1}")).await;
    assert_eq!(first.status, 200, "{first:?}\n{}", gw.log());
    let other_body = pay_with_id(&url, key, id, &post("{\"qty\":9}")).await;
    assert_eq!(other_body.status, 409, "{other_body:?}");
    assert!(
        other_body.body.contains("payment_identifier_conflict"),
        "{}",
        other_body.body
    );
    let other_url = pay_with_id(
        &gw.url(&format!("{prefix}/other")),
        key,
        id,
        &post("{\"qty\":1}"),
    )
    .await;
    assert_eq!(other_url.status, 409, "{other_url:?}");
    // The same body again is the same request: a replay.
    let same = pay_with_id(&url, key, id, &post("{\"qty\":1}")).await;
    assert_eq!(same.status, 200, "{same:?}");

    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
    let seen = stack.origin_log(&prefix).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter().all(|r| r["body"] == "{\"qty\":1}"),
        "the body reached the origin: {seen:?}"
    );
}

#[tokio::test]
async fn a_route_that_requires_an_id_refuses_a_payment_without_one() {
    let stack = Stack::shared();
    let prefix = unique_prefix("payid-required");
    let (gw, pay_to) = gateway(stack, &prefix, "required").await;
    let path = format!("{prefix}/doc");
    let (v2, _) = challenge(&gw, &path).await;
    assert_eq!(
        v2["extensions"]["payment-identifier"]["info"]["required"], true,
        "{v2}"
    );
    let key = &stack.payer().private_key;
    let none = pay_with_id(&gw.url(&path), key, "none", &[]).await;
    assert_eq!(none.status, 400, "{none:?}");
    assert!(
        none.body.contains("payment_identifier_required"),
        "{}",
        none.body
    );
    assert!(stack.origin_log(&prefix).await.is_empty());
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
    // With an id it is served.
    let with = pay_with_id(&gw.url(&path), key, "pay_required_0123456789", &[]).await;
    assert_eq!(with.status, 200, "{with:?}");
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
}

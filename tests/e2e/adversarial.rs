//! Bad payments get a 402 with a reason and never reach the origin; one payment buys one request,
//! even when it is sent 20 times at once.

use alloy_primitives::U256;
use base64::Engine;

use crate::support::{Stack, node, unique_prefix};
use crate::{challenge, priced_gateway};

/// Sends one request with a payment header; returns (status, `error` of the v2 challenge or body).
async fn send(url: &str, header: &str, value: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(url)
        .header(header, value)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let reason = resp
        .headers()
        .get("payment-required")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            crate::support::decode_b64_json(v)["error"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    (status, reason)
}

fn now() -> u64 {
    use x402_gateway::clock::{Clock, SystemClock};
    SystemClock.now_secs()
}

#[tokio::test]
async fn bad_payments_get_a_reason_and_never_reach_the_origin() {
    let stack = Stack::shared();
    let prefix = unique_prefix("adversarial");
    let (gw, pay_to) = priced_gateway(stack, &prefix, "$0.001").await;
    let url = gw.url(&format!("{prefix}/r"));
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let requirement = &v2["accepts"][0];
    let key = &stack.payer().private_key;

    // unpaid
    let resp = reqwest::get(&url).await.expect("get");
    assert_eq!(resp.status(), 402);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "X-PAYMENT header is required");

    // malformed: not base64, not JSON, unknown version
    for bad in [
        "%%%not-base64%%%",
        &base64::engine::general_purpose::STANDARD.encode("not json"),
        &base64::engine::general_purpose::STANDARD.encode(r#"{"x402Version":9}"#),
    ] {
        let (status, reason) = send(&url, "PAYMENT-SIGNATURE", bad).await;
        assert_eq!(status, 402);
        assert!(
            reason == "invalid_payload" || reason == "invalid_x402_version",
            "{reason}"
        );
    }

    // wrong amount (signed for less than the price, with an honest `accepted`)
    let s = node::sign(2, key, requirement, &["--value", "999"]).await;
    assert_eq!(
        send(&url, &s.header, &s.value).await,
        (
            402,
            "invalid_exact_evm_payload_authorization_value_mismatch".into()
        )
    );

    // tampered `accepted` (client claims a lower price)
    let mut cheap = requirement.clone();
    cheap["amount"] = "1".into();
    let s = node::sign(2, key, &cheap, &[]).await;
    assert_eq!(
        send(&url, &s.header, &s.value).await,
        (402, "No matching payment requirements".into())
    );

    // wrong payTo
    let other = crate::support::fresh_address();
    let s = node::sign(2, key, requirement, &["--to", &other]).await;
    assert_eq!(
        send(&url, &s.header, &s.value).await,
        (402, "invalid_exact_evm_payload_recipient_mismatch".into())
    );

    // expired, and not yet valid
    let s = node::sign(
        2,
        key,
        requirement,
        &["--valid-before", &(now() - 10).to_string()],
    )
    .await;
    assert_eq!(
        send(&url, &s.header, &s.value).await,
        (
            402,
            "invalid_exact_evm_payload_authorization_valid_before".into()
        )
    );
    let s = node::sign(
        2,
        key,
        requirement,
        &["--valid-after", &(now() + 600).to_string()],
    )
    .await;
    assert_eq!(
        send(&url, &s.header, &s.value).await,
        (
            402,
            "invalid_exact_evm_payload_authorization_valid_after".into()
        )
    );

    // signed over another token domain: the facilitator rejects the signature
    let s = node::sign(2, key, requirement, &["--domain-name", "Fake Token"]).await;
    let (status, reason) = send(&url, &s.header, &s.value).await;
    assert_eq!(status, 402);
    assert!(reason.contains("signature"), "{reason}");

    assert!(
        stack.origin_log(&prefix).await.is_empty(),
        "no bad payment reached the origin"
    );

    // a valid payment works once; its replay is refused
    let s = node::sign(2, key, requirement, &[]).await;
    assert_eq!(send(&url, &s.header, &s.value).await.0, 200);
    assert_eq!(
        send(&url, &s.header, &s.value).await,
        (402, "duplicate_settlement".into())
    );
    assert_eq!(stack.origin_log(&prefix).await.len(), 1);
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
}

#[tokio::test]
async fn one_payment_sent_20_times_at_once_buys_one_request() {
    let stack = Stack::shared();
    let prefix = unique_prefix("race");
    let (gw, pay_to) = priced_gateway(stack, &prefix, "$0.001").await;
    let url = gw.url(&format!("{prefix}/r"));
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(2, &stack.payer().private_key, &v2["accepts"][0], &[]).await;

    let client = reqwest::Client::new();
    let sends = (0..20).map(|_| {
        let req = client.get(&url).header(&s.header, &s.value);
        async move { req.send().await.expect("send").status().as_u16() }
    });
    let statuses = futures::future::join_all(sends).await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        1,
        "the origin saw it once"
    );
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
}

#[tokio::test]
async fn v1_payment_with_wrong_amount_is_refused() {
    let stack = Stack::shared();
    let prefix = unique_prefix("v1bad");
    let (gw, _) = priced_gateway(stack, &prefix, "$0.001").await;
    let (_, v1) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(
        1,
        &stack.payer().private_key,
        &v1["accepts"][0],
        &["--value", "1"],
    )
    .await;
    assert_eq!(s.header, "X-PAYMENT");
    let resp = reqwest::Client::new()
        .get(gw.url(&format!("{prefix}/r")))
        .header("X-PAYMENT", &s.value)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 402);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body["error"],
        "invalid_exact_evm_payload_authorization_value_mismatch"
    );
    assert!(stack.origin_log(&prefix).await.is_empty());
}

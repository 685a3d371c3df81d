//! `[facilitator] auth = "cdp"`: every facilitator call carries a fresh CDP JWT (Ed25519 or ES256,
//! key id and secret from the environment), which a CDP-style stand-in checks (signature, kid,
//! sub, iss, nbf/exp, uris, an unseen nonce) before the official facilitator logic runs. A wrong
//! key is turned away by the facilitator, and the paid route stays closed (503).

use serde::Deserialize;
use serde_json::json;

use crate::support::{Gateway, Stack, fresh_address, harness_dir, unique_prefix};

#[derive(Deserialize)]
struct Key {
    secret: String,
    #[serde(rename = "publicKey")]
    public_key: String,
}

#[derive(Deserialize)]
struct Keys {
    ed25519: Key,
    es256: Key,
}

/// Fresh CDP-style keys from `tests/harness/keys.mjs`.
async fn keys() -> Keys {
    let out = tokio::process::Command::new("node")
        .arg("keys.mjs")
        .current_dir(harness_dir())
        .output()
        .await
        .expect("node keys.mjs");
    serde_json::from_slice(&out.stdout).expect("keys json")
}

/// A gateway on `stack` with CDP auth from the environment, selling `prefix/**`.
async fn cdp_gateway(stack: &Stack, prefix: &str, secret: &str) -> (Gateway, String) {
    let pay_to = fresh_address();
    let routes = format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes)
        .replace("[facilitator]\n", "[facilitator]\nauth = \"cdp\"\n");
    let env = [
        ("CDP_API_KEY_ID", "organizations/test/apiKeys/gateway"),
        ("CDP_API_KEY_SECRET", secret),
    ];
    (Gateway::start_with_env(&config, &env).await, pay_to)
}

#[tokio::test]
async fn official_client_pays_through_a_cdp_authenticated_facilitator_with_either_key_type() {
    let stack = Stack::start();
    let keys = keys().await;
    for (name, key) in [("ed25519", &keys.ed25519), ("es256", &keys.es256)] {
        stack
            .facilitator_control(
                "/__require-cdp",
                json!({"keyId": "organizations/test/apiKeys/gateway", "publicKey": key.public_key}),
            )
            .await;
        stack.facilitator_control("/__reset-stats", json!({})).await;
        let prefix = unique_prefix(&format!("cdp-{name}"));
        let (gw, _) = cdp_gateway(&stack, &prefix, &key.secret).await;
        let r = stack.pay_v2(&gw.url(&format!("{prefix}/r"))).await;
        let s = stack.facilitator_stats().await;
        assert_eq!(r.status, 200, "{name}: {r:?}\n{s}\n{}", gw.log());
        assert!(
            s["cdpAccepted"].as_u64().unwrap_or(0) >= 2,
            "{name}: verify and settle each carried a valid JWT: {s}"
        );
        assert_eq!(s["cdpRejected"], 0, "{name}: {s}");
        assert!(
            !gw.log().contains(&key.secret),
            "{name}: the secret never reaches the log"
        );
    }
}

#[tokio::test]
async fn a_gateway_with_the_wrong_cdp_key_keeps_the_paid_route_closed() {
    let stack = Stack::start();
    let keys = keys().await;
    // The facilitator knows the Ed25519 key; the gateway signs with the EC one.
    stack
        .facilitator_control(
            "/__require-cdp",
            json!({"keyId": "organizations/test/apiKeys/gateway", "publicKey": keys.ed25519.public_key}),
        )
        .await;
    let prefix = unique_prefix("cdp-wrong");
    let (gw, _) = cdp_gateway(&stack, &prefix, &keys.es256.secret).await;
    let r = stack.pay_v2(&gw.url(&format!("{prefix}/r"))).await;
    assert_eq!(r.status, 503, "{r:?}");
    let s = stack.facilitator_stats().await;
    assert!(s["cdpRejected"].as_u64().unwrap_or(0) >= 1, "{s}");
    assert_eq!(s["cdpLastError"], "bad signature", "{s}");
    assert!(stack.origin_log(&prefix).await.is_empty());
}

//! A flood of payments cannot tie up the facilitator. A forged EOA signature is refused at the
//! edge and costs no remote call at all; payments that are well signed (here: by a payer with no
//! funds, so the facilitator refuses them) cost one `/verify` each, and with
//! `max_verifications_per_ip = 2` at most two are in flight at any moment: the rest get 429
//! `too_many_verifications` with Retry-After. None of them reaches the origin.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::challenge;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, node, unique_prefix};

const FLOOD: usize = 30;

/// A private stack, a gateway allowing two verifications in flight per client, its priced path
/// and the requirement of its 402.
async fn capped_gateway(name: &str) -> (Stack, Gateway, String, Value) {
    let stack = Stack::start();
    let prefix = unique_prefix(name);
    let routes =
        format!("[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let config = Gateway::config(&stack, &stack.info.facilitator, &fresh_address(), &routes);
    assert!(config.contains("[facilitator]\n"), "{config}");
    let config = config.replace(
        "[facilitator]\n",
        "[facilitator]\nmax_verifications_per_ip = 2\n",
    );
    let gw = Gateway::start(&config).await;
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    (stack, gw, prefix, v2["accepts"][0].clone())
}

/// `FLOOD` payments for `requirement` signed with `key` (and `overrides`), fresh nonce each.
async fn sign_many(key: &str, requirement: &Value, overrides: &[&str]) -> Vec<node::Signed> {
    futures::stream::iter(0..FLOOD)
        .map(|_| node::sign(2, key, requirement, overrides))
        .buffer_unordered(6)
        .collect()
        .await
}

/// Sends every payment at once (facilitator `/verify` slowed to 300 ms, its counters reset);
/// returns (status, Retry-After present, JSON body) per payment and the facilitator's stats.
async fn flood(
    stack: &Stack,
    gw: &Gateway,
    path: &str,
    payments: &[node::Signed],
) -> (Vec<(u16, bool, Value)>, Value) {
    stack
        .facilitator_control("/__delay", json!({"ms": 300, "only": "verify"}))
        .await;
    stack.facilitator_control("/__reset-stats", json!({})).await;
    let client = reqwest::Client::new();
    let url = gw.url(path);
    let responses = futures::future::join_all(payments.iter().map(|s| {
        let req = client.get(&url).header(&s.header, &s.value);
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            let retry_after = resp.headers().contains_key("retry-after");
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        }
    }))
    .await;
    let stats: Value = stack.facilitator_stats().await;
    (responses, stats)
}

#[tokio::test]
async fn forged_signatures_are_refused_at_the_edge_without_a_facilitator_call() {
    let (stack, gw, prefix, requirement) = capped_gateway("forged").await;
    // Signed by payer 0 but claiming to come from payer 1: correct to, value and window, a fresh
    // nonce each, and a signature that does not match `from`.
    let victim = &stack.info.payers[1].address;
    let forged = sign_many(
        &stack.info.payers[0].private_key,
        &requirement,
        &["--from", victim.as_str()],
    )
    .await;
    for s in &forged {
        let from = &decode_b64_json(&s.value)["payload"]["authorization"]["from"];
        assert_eq!(
            from.as_str().map(str::to_lowercase),
            Some(victim.to_lowercase())
        );
    }
    let (responses, stats) = flood(&stack, &gw, &format!("{prefix}/r"), &forged).await;
    for (status, _, body) in &responses {
        assert_eq!(*status, 402, "{body}\n{}", gw.log());
        // the v1 body carries the legacy name of the reason
        assert_eq!(
            body["error"], "invalid_exact_evm_payload_signature",
            "{body}"
        );
    }
    assert_eq!(stats["verify"], 0, "no remote call for a forgery: {stats}");
    assert!(
        stack.origin_log(&prefix).await.is_empty(),
        "no forged payment reached the origin"
    );
}

#[tokio::test]
async fn verifications_in_flight_are_capped_per_client() {
    let (stack, gw, prefix, requirement) = capped_gateway("unfunded").await;
    // A well-signed payment from a key that holds no USDC: only the facilitator can refuse it.
    let unfunded = format!(
        "0x{}",
        alloy_primitives::hex::encode(alloy_primitives::keccak256(prefix.as_bytes()))
    );
    let payments = sign_many(&unfunded, &requirement, &[]).await;
    let (responses, stats) = flood(&stack, &gw, &format!("{prefix}/r"), &payments).await;
    let mut limited = 0;
    for (status, retry_after, body) in &responses {
        assert!(
            *status == 402 || *status == 429,
            "an unfunded payment got {status}: {body}\n{}",
            gw.log()
        );
        if *status == 429 {
            limited += 1;
            assert!(retry_after, "429 without Retry-After: {body}");
            assert_eq!(body["error"], "too_many_verifications", "{body}");
        }
    }
    assert!(
        limited >= 1,
        "no payment was turned away with 429: {:?}",
        responses.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let max = stats["maxVerifyInFlight"]
        .as_u64()
        .expect("maxVerifyInFlight");
    assert!(max <= 2, "the facilitator verified {max} at once: {stats}");
    assert!(stats["verify"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert!(
        stack.origin_log(&prefix).await.is_empty(),
        "no unfunded payment reached the origin"
    );
}

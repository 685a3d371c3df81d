//! A flood of forged payments from one address cannot tie up the facilitator: with
//! `max_verifications_per_ip = 2`, at most two of its payments are being verified at any moment, the
//! rest get 429 `too_many_verifications` with Retry-After, and none of them reaches the origin.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::challenge;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, node, unique_prefix};

const FLOOD: usize = 30;

#[tokio::test]
async fn forged_payment_flood_is_capped_per_ip_and_never_reaches_the_origin() {
    let stack = Stack::start();
    let prefix = unique_prefix("forged");
    let routes =
        format!("[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let config = Gateway::config(&stack, &stack.info.facilitator, &fresh_address(), &routes);
    assert!(config.contains("[facilitator]\n"), "{config}");
    let config = config.replace(
        "[facilitator]\n",
        "[facilitator]\nmax_verifications_per_ip = 2\n",
    );
    let gw = Gateway::start(&config).await;
    let path = format!("{prefix}/r");
    let (v2, _) = challenge(&gw, &path).await;
    let requirement = &v2["accepts"][0];

    // Signed by payer 0 but claiming to come from payer 1: correct to, value and window, a fresh
    // nonce each, and a signature that does not match `from`.
    let signer = &stack.info.payers[0].private_key;
    let victim = &stack.info.payers[1].address;
    let overrides = ["--from", victim.as_str()];
    let forged: Vec<node::Signed> = futures::stream::iter(0..FLOOD)
        .map(|_| node::sign(2, signer, requirement, &overrides))
        .buffer_unordered(6)
        .collect()
        .await;
    for s in &forged {
        let from = &decode_b64_json(&s.value)["payload"]["authorization"]["from"];
        assert_eq!(
            from.as_str().map(str::to_lowercase),
            Some(victim.to_lowercase())
        );
    }

    // Slow verifications down so the flood overlaps, and count from here on.
    stack
        .facilitator_control("/__delay", json!({"ms": 300, "only": "verify"}))
        .await;
    stack.facilitator_control("/__reset-stats", json!({})).await;

    let client = reqwest::Client::new();
    let url = gw.url(&path);
    let responses = futures::future::join_all(forged.iter().map(|s| {
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

    let mut refused = 0;
    for (status, retry_after, body) in &responses {
        assert!(
            *status == 402 || *status == 429,
            "a forged payment got {status}: {body}\n{}",
            gw.log()
        );
        if *status == 429 {
            refused += 1;
            assert!(retry_after, "429 without Retry-After: {body}");
            assert_eq!(body["error"], "too_many_verifications", "{body}");
        }
    }
    assert!(
        refused >= 1,
        "no payment was turned away with 429: {:?}",
        responses.iter().map(|r| r.0).collect::<Vec<_>>()
    );

    let stats: Value = reqwest::get(format!("{}/__stats", stack.info.facilitator))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    let max = stats["maxVerifyInFlight"]
        .as_u64()
        .expect("maxVerifyInFlight");
    assert!(max <= 2, "the facilitator verified {max} at once: {stats}");
    assert!(
        stack.origin_log(&prefix).await.is_empty(),
        "no forged payment reached the origin"
    );
}

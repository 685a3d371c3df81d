//! Local verification (`[chains."eip155:84532"] rpc_url`): signature, nonce and balance are
//! checked in process against anvil, so the facilitator is only asked to settle. Its verdicts and
//! reasons are the official facilitator's for the same payments, and a chain that cannot be read
//! keeps paid routes closed (503) while free routes keep working.

use alloy_primitives::U256;
use serde_json::{Value, json};

use crate::challenge;
use crate::support::forward::forward;
use crate::support::gateway::free_port;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, node, unique_prefix};

const PRICE: u64 = 1000;

fn routes(prefix: &str) -> String {
    format!(
        "[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n\n[[routes]]\npath = \"/free/**\"\nprice = \"free\"\n"
    )
}

/// A gateway on `stack` selling `prefix/**`; with `rpc` it verifies payments on Base Sepolia
/// itself.
async fn gateway(stack: &Stack, prefix: &str, rpc: Option<&str>) -> (Gateway, String) {
    let pay_to = fresh_address();
    let mut config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes(prefix));
    if let Some(rpc) = rpc {
        config.push_str(&format!(
            "\n[chains.\"eip155:84532\"]\nrpc_url = \"{rpc}\"\n"
        ));
    }
    (Gateway::start(&config).await, pay_to)
}

/// A payment for the requirement `gw` offers on `path` (each gateway sells to its own payTo).
async fn sign_for(gw: &Gateway, path: &str, key: &str, extra: &[String]) -> node::Signed {
    let (v2, _) = challenge(gw, path).await;
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    node::sign(2, key, &v2["accepts"][0], &extra).await
}

/// Sends a payment header; returns the status and the v2 `error` of a 402 (or the JSON error).
async fn verdict(gw: &Gateway, path: &str, s: &node::Signed) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(gw.url(path))
        .header(&s.header, &s.value)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let reason = match resp.headers().get("payment-required") {
        Some(h) => decode_b64_json(h.to_str().expect("ascii"))["error"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        None => {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            body["error"].as_str().unwrap_or("").to_string()
        }
    };
    (status, reason)
}

#[tokio::test]
async fn official_clients_pay_with_local_verification_and_no_facilitator_verify() {
    let stack = Stack::start();
    let prefix = unique_prefix("local");
    let (gw, pay_to) = gateway(&stack, &prefix, Some(&stack.info.rpc)).await;
    stack.facilitator_control("/__reset-stats", json!({})).await;
    for (i, client) in ["v2", "v1"].into_iter().enumerate() {
        let r = node::pay(
            client,
            &gw.url(&format!("{prefix}/item-{client}")),
            &stack.info.payers[i].private_key,
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{client}: {r:?}\n{}", gw.log());
    }
    let s = stack.facilitator_stats().await;
    assert_eq!(s["verify"], 0, "verified in process: {s}");
    assert_eq!(s["settle"], 2, "{s}");
    let balance = stack.usdc_balance(&pay_to).await;
    assert_eq!(balance, U256::from(2 * PRICE));
}

#[tokio::test]
async fn local_verdicts_and_reasons_match_the_official_facilitators() {
    let stack = Stack::shared();
    let prefix = unique_prefix("parity");
    let path = format!("{prefix}/r");
    let (local, _) = gateway(stack, &prefix, Some(&stack.info.rpc)).await;
    let (remote, _) = gateway(stack, &prefix, None).await;
    // An unfunded payer: a valid signature over a balance of zero.
    let unfunded = format!(
        "0x{}",
        alloy_primitives::hex::encode(alloy_primitives::keccak256(prefix.as_bytes()))
    );
    let l = verdict(
        &local,
        &path,
        &sign_for(&local, &path, &unfunded, &[]).await,
    )
    .await;
    let r = verdict(
        &remote,
        &path,
        &sign_for(&remote, &path, &unfunded, &[]).await,
    )
    .await;
    assert_eq!(
        l,
        (402, "invalid_exact_evm_insufficient_balance".to_string())
    );
    // The official facilitator names this reason only when its diagnosis multicall runs; this
    // anvil has no Multicall3, so it falls back to the generic simulation failure (spec §5.3 9f).
    assert_eq!(r.0, 402, "{r:?}");
    assert!(
        [
            "invalid_exact_evm_insufficient_balance",
            "invalid_exact_evm_transaction_simulation_failed"
        ]
        .contains(&r.1.as_str()),
        "{r:?}"
    );

    // A nonce already used on chain: pay once, then present the same nonce (fresh gateways, so
    // their replay sets do not answer first).
    let payer = stack.payer().private_key.clone();
    let first = sign_for(&local, &path, &payer, &[]).await;
    assert_eq!(verdict(&local, &path, &first).await.0, 200);
    let nonce = decode_b64_json(&first.value)["payload"]["authorization"]["nonce"]
        .as_str()
        .expect("nonce")
        .to_string();
    let (local2, _) = gateway(stack, &prefix, Some(&stack.info.rpc)).await;
    let (remote2, _) = gateway(stack, &prefix, None).await;
    let reuse = vec!["--nonce".to_string(), nonce];
    let l = verdict(
        &local2,
        &path,
        &sign_for(&local2, &path, &payer, &reuse).await,
    )
    .await;
    let r = verdict(
        &remote2,
        &path,
        &sign_for(&remote2, &path, &payer, &reuse).await,
    )
    .await;
    assert_eq!(l.0, 402, "{l:?}");
    assert_eq!(l, r, "used nonce: local vs facilitator");
}

#[tokio::test]
async fn an_unreadable_chain_closes_paid_routes_and_keeps_free_ones() {
    let stack = Stack::shared();
    let prefix = unique_prefix("rpcdown");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (gw, _) = gateway(stack, &prefix, Some(&dead)).await;
    let (v2, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let s = node::sign(2, &stack.payer().private_key, &v2["accepts"][0], &[]).await;
    let (status, reason) = verdict(&gw, &format!("{prefix}/r"), &s).await;
    assert_eq!((status, reason.as_str()), (503, "chain_unavailable"));
    assert!(stack.origin_log(&prefix).await.is_empty());
    let free = reqwest::get(gw.url("/free/x")).await.expect("free");
    assert_eq!(free.status(), 200);
}

#[tokio::test]
async fn a_chain_that_comes_back_reopens_paid_routes_without_a_restart() {
    let stack = Stack::shared();
    let prefix = unique_prefix("rpcback");
    let port = free_port();
    let (gw, _) = gateway(stack, &prefix, Some(&format!("http://127.0.0.1:{port}"))).await;
    let path = format!("{prefix}/r");
    let key = &stack.payer().private_key;
    let down = sign_for(&gw, &path, key, &[]).await;
    let (status, reason) = verdict(&gw, &path, &down).await;
    assert_eq!((status, reason.as_str()), (503, "chain_unavailable"));
    // The node is reachable again on the same address: no restart, no reload.
    forward(
        port,
        stack.info.rpc.trim_start_matches("http://").to_string(),
    )
    .await;
    let (status, _) = verdict(&gw, &path, &down).await;
    assert_eq!(
        status,
        200,
        "the refused payment was not claimed: it pays now\n{}",
        gw.log()
    );
    let up = sign_for(&gw, &path, key, &[]).await;
    let (status, _) = verdict(&gw, &path, &up).await;
    assert_eq!(status, 200, "{}", gw.log());
    assert_eq!(stack.origin_log(&prefix).await.len(), 2);
}

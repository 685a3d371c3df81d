//! WebSocket upgrades through a priced route: no payment, no session; one payment opens exactly one
//! session and is settled once; a replayed payment opens nothing; an origin that refuses the upgrade
//! costs the payer nothing. The client is `tests/harness/ws.mjs` (the `ws` package).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use serde::Deserialize;
use serde_json::Value;

use crate::support::{
    Gateway, Stack, chain, decode_b64_json, fresh_address, harness_dir, node, unique_prefix,
};

/// What `ws.mjs` saw.
#[derive(Debug, Deserialize)]
struct WsResult {
    status: u16,
    opened: bool,
    echoed: Option<String>,
    headers: BTreeMap<String, String>,
    body: String,
    error: Option<String>,
}

/// Opens one WebSocket to `url` with extra handshake `headers`, sends `message` and waits for its echo.
async fn ws(url: &str, headers: &[String], message: &str) -> WsResult {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("ws.mjs")
        .args(["--url", url, "--message", message])
        .current_dir(harness_dir());
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = cmd.output().await.expect("node ws.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "ws.mjs printed {stdout:?} ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A gateway on the shared stack selling WebSocket (GET) sessions under `prefix` for $0.001 to a
/// fresh payTo, proxied to the stack's echoing origin.
async fn ws_gateway(stack: &Stack, prefix: &str) -> (Gateway, String) {
    let pay_to = fresh_address();
    let routes = format!(
        "[[routes]]\nname = \"sockets\"\npath = \"{prefix}/**\"\nmethods = [\"GET\"]\nprice = \"$0.001\"\norigin = \"origin\"\n"
    );
    (Gateway::start_with(stack, &pay_to, &routes).await, pay_to)
}

fn ws_url(gw: &Gateway, path: &str) -> String {
    gw.url(path).replacen("http://", "ws://", 1)
}

/// The v2 requirement of an unpaid upgrade's 402 (its `PAYMENT-REQUIRED` header).
fn requirement_of(unpaid: &WsResult) -> Value {
    assert_eq!(unpaid.status, 402, "{unpaid:?}");
    let header = unpaid
        .headers
        .get("payment-required")
        .unwrap_or_else(|| panic!("PAYMENT-REQUIRED on the 402: {unpaid:?}"));
    decode_b64_json(header)["accepts"][0].clone()
}

/// (from, nonce) of a signed v2 payment header.
fn authorization_of(value: &str) -> (Address, B256) {
    let auth = &decode_b64_json(value)["payload"]["authorization"];
    let from = auth["from"]
        .as_str()
        .expect("from")
        .parse()
        .expect("address");
    let nonce = auth["nonce"]
        .as_str()
        .expect("nonce")
        .parse()
        .expect("bytes32");
    (from, nonce)
}

#[tokio::test]
async fn unpaid_websocket_upgrade_gets_402_and_never_reaches_the_origin() {
    let stack = Stack::shared();
    let prefix = unique_prefix("ws-unpaid");
    let (gw, _) = ws_gateway(stack, &prefix).await;

    let r = ws(&ws_url(&gw, &format!("{prefix}/ws")), &[], "ping").await;

    assert_eq!(r.status, 402, "{r:?}\n{}", gw.log());
    assert!(!r.opened && r.echoed.is_none(), "{r:?}");
    let requirement = requirement_of(&r);
    assert_eq!(requirement["amount"], "1000", "{requirement}");
    let body: Value = serde_json::from_str(&r.body).expect("a JSON challenge body");
    assert!(
        body["accepts"].as_array().is_some_and(|a| !a.is_empty()),
        "{body}"
    );
    assert!(
        stack.origin_log(&prefix).await.is_empty(),
        "the origin never saw the upgrade"
    );
}

#[tokio::test]
async fn one_payment_opens_exactly_one_websocket_session_and_its_replay_opens_none() {
    let stack = Stack::shared();
    let prefix = unique_prefix("ws-paid");
    let (gw, pay_to) = ws_gateway(stack, &prefix).await;
    let path = format!("{prefix}/ws");
    let url = ws_url(&gw, &path);
    let payer = stack.payer();

    let requirement = requirement_of(&ws(&url, &[], "ping").await);
    let signed = node::sign(2, &payer.private_key, &requirement, &[]).await;
    let (from, nonce) = authorization_of(&signed.value);
    let header = format!("PAYMENT-SIGNATURE: {}", signed.value);

    // the paid upgrade: one session, echo included, settled once on chain
    let first = ws(&url, std::slice::from_ref(&header), "hello paid socket").await;
    assert_eq!(first.status, 101, "{first:?}\n{}", gw.log());
    assert!(first.opened && first.error.is_none(), "{first:?}");
    assert_eq!(
        first.echoed.as_deref(),
        Some("hello paid socket"),
        "{first:?}"
    );
    let settlement = decode_b64_json(
        first
            .headers
            .get("payment-response")
            .unwrap_or_else(|| panic!("PAYMENT-RESPONSE on the 101: {first:?}")),
    );
    assert_eq!(settlement["success"], true, "{settlement}");
    let tx = settlement["transaction"].as_str().expect("tx hash");
    assert!(tx.starts_with("0x") && tx.len() == 66, "{tx}");
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
    assert!(
        chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await,
        "the payer's authorization is used on chain"
    );
    let log = stack.origin_log(&prefix).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["upgrade"], true, "{log:?}");
    assert_eq!(log[0]["path"], path.as_str(), "{log:?}");

    // the same payment again: no second session, no second charge
    let again = ws(&url, std::slice::from_ref(&header), "hello again").await;
    assert_eq!(again.status, 402, "{again:?}\n{}", gw.log());
    assert!(!again.opened && again.echoed.is_none(), "{again:?}");
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        1,
        "the replay never reached the origin"
    );
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
}

#[tokio::test]
async fn origin_refusing_a_paid_upgrade_passes_its_status_and_charges_nothing() {
    let stack = Stack::shared();
    let prefix = unique_prefix("ws-refused");
    let (gw, pay_to) = ws_gateway(stack, &prefix).await;
    let path = format!("{prefix}/status/500/ws");
    let url = ws_url(&gw, &path);
    let payer = stack.payer();

    let requirement = requirement_of(&ws(&url, &[], "ping").await);
    let signed = node::sign(2, &payer.private_key, &requirement, &[]).await;
    let (from, nonce) = authorization_of(&signed.value);

    let r = ws(
        &url,
        &[format!("PAYMENT-SIGNATURE: {}", signed.value)],
        "ping",
    )
    .await;

    assert_eq!(r.status, 500, "{r:?}\n{}", gw.log());
    assert!(!r.opened && r.echoed.is_none(), "{r:?}");
    assert!(
        !r.headers.contains_key("payment-response"),
        "no settlement: {r:?}"
    );
    let log = stack.origin_log(&prefix).await;
    assert_eq!(
        log.len(),
        1,
        "the origin saw (and refused) the upgrade: {log:?}"
    );
    assert_eq!(log[0]["upgrade"], true, "{log:?}");
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
    assert!(
        !chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await,
        "the authorization was never used"
    );
}

#[tokio::test]
async fn an_upgrade_on_a_background_route_is_settled_before_the_switch() {
    let stack = Stack::shared();
    let prefix = unique_prefix("ws-bg");
    let pay_to = fresh_address();
    let routes = format!(
        "[[routes]]\npath = \"{prefix}/**\"\nmethods = [\"GET\"]\nprice = \"$0.001\"\nsettle = \"background\"\n"
    );
    let gw = Gateway::start_with(stack, &pay_to, &routes).await;
    let url = ws_url(&gw, &format!("{prefix}/ws"));
    let requirement = requirement_of(&ws(&url, &[], "ping").await);
    let signed = node::sign(2, &stack.payer().private_key, &requirement, &[]).await;
    let header = format!("PAYMENT-SIGNATURE: {}", signed.value);
    let r = ws(&url, std::slice::from_ref(&header), "bg").await;
    assert_eq!(r.status, 101, "{r:?}\n{}", gw.log());
    let settlement = decode_b64_json(&r.headers["payment-response"]);
    // Not deferred: the transaction is known when the switch happens.
    let tx = settlement["transaction"].as_str().expect("tx");
    assert!(tx.starts_with("0x") && tx.len() == 66, "{settlement}");
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
}

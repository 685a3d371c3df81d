//! Access passes: one payment with the official `@x402/fetch` buys a pass (header for agents,
//! cookie for browsers) good for its uses within its TTL and scope. The payTo rises by exactly one
//! price; a spent, expired, tampered, out-of-scope, retired-key or revoked pass gets the 402 and
//! the origin sees nothing. Keys rotate by a reload of the keys file without cutting passes off.

use std::time::Duration;

use alloy_primitives::U256;

use crate::challenge;
use crate::support::gateway::free_port;
use crate::support::node::{self, PayResult};
use crate::support::{
    Gateway, Stack, chain, decode_b64_json, eventually, fresh_address, metric, unique_prefix,
};

const KEY_1: &str = "k1=test-pass-key-one-0123456789abcdef";
const KEY_2: &str = "k2=test-pass-key-two-0123456789abcdef";

/// A gateway whose `{prefix}/**` route sells `pass` with each `$0.001` payment.
async fn pass_gateway(stack: &Stack, prefix: &str, pass: &str) -> (Gateway, String) {
    let pay_to = fresh_address();
    let routes = format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\npass = {pass}\n");
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes);
    let gw = Gateway::start_with_env(&config, &[("X402_ACCESS_KEYS", KEY_1)]).await;
    (gw, pay_to)
}

/// Pays `url` with `@x402/fetch`; the result and its pass.
async fn buy(stack: &Stack, url: &str) -> (PayResult, String) {
    let r = node::pay("v2", url, &stack.payer().private_key, &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let pass = r
        .headers
        .get("x402-pass")
        .cloned()
        .expect("X402-Pass header");
    (r, pass)
}

/// GETs `url` carrying `pass` in `X402-Pass`: status and the 402's reason (`""` otherwise).
async fn with_pass(url: &str, pass: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .header("X402-Pass", pass)
        .send()
        .await
        .expect("send");
    let reason = r
        .headers()
        .get("payment-required")
        .map(|h| decode_b64_json(h.to_str().expect("ascii"))["error"].to_string())
        .unwrap_or_default();
    (r.status().as_u16(), reason.trim_matches('"').to_string())
}

#[tokio::test]
async fn one_payment_buys_a_pass_for_exactly_its_uses() {
    let stack = Stack::shared();
    let prefix = unique_prefix("pass-uses");
    let (gw, pay_to) = pass_gateway(stack, &prefix, "{ ttl = \"10m\", uses = 50 }").await;
    let url = gw.url(&format!("{prefix}/doc"));
    let (paid, pass) = buy(stack, &url).await;
    // The browser form: a scoped, secure cookie.
    let cookie = paid.headers.get("set-cookie").expect("Set-Cookie");
    assert!(
        cookie.starts_with(&format!("x402-pass={pass}; ")),
        "{cookie}"
    );
    for attr in [
        &format!("Path={prefix}"),
        "Max-Age=600",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));

    // 49 uses by header, one by cookie (beside another cookie the origin must still get).
    for i in 0..49 {
        let (status, reason) = with_pass(&gw.url(&format!("{prefix}/doc/{i}")), &pass).await;
        assert_eq!(status, 200, "use {i}: {reason}\n{}", gw.log());
    }
    let by_cookie = reqwest::Client::new()
        .get(gw.url(&format!("{prefix}/cookie")))
        .header("Cookie", format!("theme=dark; x402-pass={pass}"))
        .send()
        .await
        .expect("send");
    assert_eq!(by_cookie.status(), 200);
    // The 51st request: the budget is spent.
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/late")), &pass).await;
    assert_eq!((status, reason.as_str()), (402, "pass_exhausted"));

    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(1000),
        "charged once"
    );
    let seen = stack.origin_log(&prefix).await;
    assert_eq!(
        seen.len(),
        1 + 50,
        "the paying request and 50 pass uses, not the 51st"
    );
    let payer = paid
        .headers
        .get("payment-response")
        .map(|h| decode_b64_json(h)["payer"].clone());
    for r in &seen[1..] {
        let h = &r["headers"];
        assert!(h.get("x402-pass").is_none(), "pass header forwarded: {h}");
        assert_eq!(h["x402-access"], "pass", "{h}");
        assert_eq!(Some(h["x402-payer"].clone()), payer, "{h}");
        if let Some(c) = h.get("cookie") {
            assert_eq!(c, "theme=dark", "pass cookie forwarded");
        }
    }
    let m = gw.metrics().await;
    assert_eq!(metric(&m, "x402_passes_issued_total", None), 1.0, "{m}");
    let hits = metric(&m, "x402_pass_checks_total", Some("result=\"hit\""));
    assert_eq!(hits, 50.0, "{m}");
    let spent = metric(
        &m,
        "x402_pass_checks_total",
        Some("result=\"pass_exhausted\""),
    );
    assert_eq!(spent, 1.0, "{m}");
}

#[tokio::test]
async fn a_pass_ends_with_its_ttl_and_a_replay_after_expiry_never_reaches_the_origin() {
    let stack = Stack::shared();
    let prefix = unique_prefix("pass-ttl");
    let (gw, pay_to) = pass_gateway(stack, &prefix, "{ ttl = \"2s\" }").await;
    let (_, pass) = buy(stack, &gw.url(&format!("{prefix}/a"))).await;
    assert_eq!(
        with_pass(&gw.url(&format!("{prefix}/b")), &pass).await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/c")), &pass).await;
    assert_eq!((status, reason.as_str()), (402, "pass_expired"));
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        2,
        "the payment and one use"
    );
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
}

#[tokio::test]
async fn tampered_foreign_scope_and_retired_key_passes_get_the_402_and_keys_rotate_by_reload() {
    let stack = Stack::shared();
    let prefix = unique_prefix("pass-keys");
    let pay_to = fresh_address();
    // The keys file lives outside the gateway's directory, named by its absolute path.
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let keys_file = keys_dir.path().join("pass-keys");
    std::fs::write(&keys_file, KEY_1).expect("keys file");
    let routes = format!(
        "[access]\nkeys_file = \"{}\"\n\n\
         [[routes]]\npath = \"{prefix}/a/premium/**\"\nprice = \"$0.05\"\n\n\
         [[routes]]\npath = \"{prefix}/a/**\"\nprice = \"$0.001\"\npass = {{ ttl = \"10m\" }}\n\n\
         [[routes]]\npath = \"{prefix}/b/**\"\nprice = \"$0.001\"\npass = {{ ttl = \"10m\" }}\n",
        keys_file.display()
    );
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes);
    let gw = Gateway::start(&config).await;
    let (_, old) = buy(stack, &gw.url(&format!("{prefix}/a/doc"))).await;
    assert!(old.starts_with("k1."), "{old}");
    let before = stack.origin_log(&prefix).await.len();

    // Tampered: one character of the claims changed.
    let mut chars: Vec<char> = old.chars().collect();
    let at = 3 + 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/a/x")), &tampered).await;
    assert_eq!((status, reason.as_str()), (402, "pass_tampered"));
    // Another scope: route b sells its own passes.
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/b/x")), &old).await;
    assert_eq!((status, reason.as_str()), (402, "pass_out_of_scope"));
    // A dearer route under the same pattern, listed first, sells no such pass.
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/a/premium/x")), &old).await;
    assert_eq!((status, reason.as_str()), (402, "pass_out_of_scope"));
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        before,
        "refused passes reached the origin"
    );

    // Rotation: a new signing key first, the old one still listed.
    reload_keys(&gw, &config, &keys_file, &format!("{KEY_2}\n{KEY_1}\n")).await;
    assert_eq!(
        with_pass(&gw.url(&format!("{prefix}/a/y")), &old).await.0,
        200
    );
    let (_, new) = buy(stack, &gw.url(&format!("{prefix}/a/doc2"))).await;
    assert!(new.starts_with("k2."), "{new}");
    // Retired: the old key is taken off the list.
    reload_keys(&gw, &config, &keys_file, &format!("{KEY_2}\n")).await;
    let before = stack.origin_log(&prefix).await.len();
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/a/z")), &old).await;
    assert_eq!((status, reason.as_str()), (402, "pass_retired_key"));
    assert_eq!(stack.origin_log(&prefix).await.len(), before);
    assert_eq!(
        with_pass(&gw.url(&format!("{prefix}/a/w")), &new).await.0,
        200
    );
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(2000));
}

/// Rewrites the keys file, then the config (which reloads both).
async fn reload_keys(gw: &Gateway, config: &str, file: &std::path::Path, keys: &str) {
    std::fs::write(file, keys).expect("keys file");
    reload(gw, config).await;
}

/// Rewrites the config and waits until the new version serves.
async fn reload(gw: &Gateway, config: &str) {
    let version = gw.status().await["config"]["version"]
        .as_u64()
        .expect("version");
    gw.rewrite_config(config);
    let reloaded = eventually(10, || async {
        gw.status().await["config"]["version"].as_u64() > Some(version)
    })
    .await;
    assert!(reloaded, "no reload: {}\n{}", gw.status().await, gw.log());
}

#[tokio::test]
async fn a_pass_sold_with_a_background_payment_is_revoked_when_its_settlement_fails() {
    const GAS_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
    let stack = Stack::start();
    let pay_to = fresh_address();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let routes = "[[routes]]\npath = \"/bg/**\"\nprice = \"$0.001\"\nsettle = \"background\"\npass = { ttl = \"10m\" }\n";
    let mut config = Gateway::config(&stack, &dead, &pay_to, routes);
    config.push_str(&format!(
        "\n[chains.\"eip155:84532\"]\nrpc_url = \"{}\"\nsettle = \"onchain\"\nbatch_wait_ms = 1500\n",
        stack.info.rpc
    ));
    let gw = Gateway::start_with_env(
        &config,
        &[("GATEWAY_GAS_KEY", GAS_KEY), ("X402_ACCESS_KEYS", KEY_1)],
    )
    .await;
    let (v2, _) = challenge(&gw, "/bg/doc").await;
    let cheat = &stack.info.payers[5];
    let signed = node::sign(2, &cheat.private_key, &v2["accepts"][0], &[]).await;
    let r = reqwest::Client::new()
        .get(gw.url("/bg/doc"))
        .header(&signed.header, &signed.value)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "{}", gw.log());
    let pass = r.headers()["x402-pass"]
        .to_str()
        .expect("ascii")
        .to_string();
    // The payer empties their account before the batch goes out.
    chain::drain(
        &stack.info.rpc,
        &stack.info.usdc,
        &cheat.address,
        &fresh_address(),
    )
    .await;
    assert_eq!(
        with_pass(&gw.url("/bg/other"), &pass).await.0,
        200,
        "valid until it fails"
    );
    let revoked = eventually(30, || async {
        with_pass(&gw.url("/bg/probe"), &pass).await == (402, "pass_revoked".to_string())
    })
    .await;
    assert!(revoked, "{}", gw.log());
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
}

#[tokio::test]
async fn a_restart_neither_refills_nor_revives_a_pass() {
    let stack = Stack::shared();
    let prefix = unique_prefix("pass-restart");
    let (mut gw, _) = pass_gateway(stack, &prefix, "{ ttl = \"10m\", uses = 3 }").await;
    let (_, pass) = buy(stack, &gw.url(&format!("{prefix}/a"))).await;
    for i in 0..2 {
        assert_eq!(
            with_pass(&gw.url(&format!("{prefix}/u{i}")), &pass).await.0,
            200
        );
    }
    // Uses are written behind the request; give the writer its group-commit moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.kill9_and_restart(&[("X402_ACCESS_KEYS", KEY_1)]).await;
    assert_eq!(
        with_pass(&gw.url(&format!("{prefix}/u2")), &pass).await.0,
        200
    );
    let (status, reason) = with_pass(&gw.url(&format!("{prefix}/u3")), &pass).await;
    assert_eq!(
        (status, reason.as_str()),
        (402, "pass_exhausted"),
        "{}",
        gw.log()
    );
}

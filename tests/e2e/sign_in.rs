//! Sign-In-With-X with the official `@x402/extensions` client: a wallet that paid the route
//! signs in and is served without paying; a forged signature, a reused nonce, an expired message
//! and a wallet that never paid each get the 402, and the origin sees none of them.

use alloy_primitives::U256;

use crate::challenge;
use crate::support::node;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, unique_prefix};

/// Status and the 402's reason (`""` without one).
fn outcome(r: &node::ExtensionResult) -> (u16, String) {
    let reason = r
        .headers
        .get("payment-required")
        .map(|h| {
            decode_b64_json(h)["error"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    (r.status, reason)
}

async fn sign_in(url: &str, key: &str, mode: &str) -> node::ExtensionResult {
    node::extensions(&["siwx", "--url", url, "--key", key, "--mode", mode]).await
}

#[tokio::test]
async fn a_wallet_that_paid_signs_in_and_every_bad_sign_in_gets_the_402() {
    let stack = Stack::shared();
    let prefix = unique_prefix("siwx");
    let pay_to = fresh_address();
    let routes = format!(
        "[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\nsign_in = {{ paid_within = \"1h\" }}\n"
    );
    let gw = Gateway::start_with(stack, &pay_to, &routes).await;
    let path = format!("{prefix}/doc");
    let url = gw.url(&path);
    let (v2, _) = challenge(&gw, &path).await;
    let info = &v2["extensions"]["sign-in-with-x"]["info"];
    assert_eq!(info["uri"], url.as_str(), "{v2}");
    assert_eq!(info["domain"], format!("127.0.0.1:{}", gw.port));

    let payer = stack.payer();
    let paid = node::pay("v2", &url, &payer.private_key, &[]).await;
    assert_eq!(paid.status, 200, "{paid:?}");
    let origin_after_payment = stack.origin_log(&prefix).await.len();

    let ok = sign_in(&url, &payer.private_key, "ok").await;
    assert_eq!(outcome(&ok), (200, String::new()), "{ok:?}\n{}", gw.log());
    let seen = stack.origin_log(&prefix).await;
    assert_eq!(seen.len(), origin_after_payment + 1);
    let last = &seen.last().expect("served")["headers"];
    assert_eq!(last["x402-access"], "sign_in", "{last}");
    assert_eq!(
        last["x402-payer"].as_str().map(str::to_lowercase),
        Some(payer.address.to_lowercase())
    );
    assert!(
        last.get("sign-in-with-x").is_none(),
        "the sign-in header reached the origin"
    );

    // The same signed message again: its nonce was redeemed.
    let header = ok.siwx_header.clone().expect("header");
    let reused = node::extensions(&["siwx", "--url", &url, "--header-value", &header]).await;
    assert_eq!(
        outcome(&reused),
        (402, "invalid_siwx_nonce_used".into()),
        "{reused:?}"
    );
    let forged = sign_in(&url, &payer.private_key, "forge").await;
    assert_eq!(
        outcome(&forged),
        (402, "invalid_siwx_signature".into()),
        "{forged:?}"
    );
    let expired = sign_in(&url, &payer.private_key, "expired").await;
    assert_eq!(
        outcome(&expired),
        (402, "invalid_siwx_expired".into()),
        "{expired:?}"
    );
    // A wallet with nothing in the ledger.
    let stranger = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    let never = sign_in(&url, stranger, "ok").await;
    assert_eq!(outcome(&never), (402, "siwx_not_paid".into()), "{never:?}");

    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        origin_after_payment + 1
    );
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(1000),
        "one charge"
    );
    let m = gw.metrics().await;
    assert!(m.contains("x402_sign_ins_total{result=\"ok\"} 1"), "{m}");
    assert!(
        m.contains("x402_sign_ins_total{result=\"siwx_not_paid\"} 1"),
        "{m}"
    );
}

//! The HTTP surface of a priced route: browsers, HEAD, CORS preflights, free routes, admin.

use crate::support::{Stack, unique_prefix};
use crate::{challenge, priced_gateway};

#[tokio::test]
async fn browsers_get_an_html_paywall_that_still_carries_the_challenge() {
    let stack = Stack::shared();
    let prefix = unique_prefix("browser");
    let (gw, _) = priced_gateway(stack, &prefix, "$0.05").await;
    let resp = reqwest::Client::new()
        .get(gw.url(&format!("{prefix}/article")))
        .header("Accept", "text/html,application/xhtml+xml")
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 402);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(resp.headers().contains_key("payment-required"));
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("0.05") && html.contains("eip155:84532") && html.contains("test resource"),
        "{html}"
    );
}

#[tokio::test]
async fn head_preflight_and_cors_are_never_charged() {
    let stack = Stack::shared();
    let prefix = unique_prefix("cors");
    let (gw, _) = priced_gateway(stack, &prefix, "$0.001").await;
    let client = reqwest::Client::new();
    let url = gw.url(&format!("{prefix}/r"));

    let head = client.head(&url).send().await.expect("head");
    assert_eq!(head.status(), 402);
    assert!(head.headers().contains_key("payment-required"));

    let pre = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "payment-signature")
        .send()
        .await
        .expect("options");
    assert_eq!(pre.status(), 204);
    let allow = pre.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or("");
    assert!(
        allow.contains("PAYMENT-SIGNATURE") && allow.contains("X-PAYMENT"),
        "{allow}"
    );

    let (_, _) = challenge(&gw, &format!("{prefix}/r")).await;
    let get = client.get(&url).send().await.expect("get");
    let expose = get.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap_or("");
    assert!(
        expose.contains("PAYMENT-REQUIRED") && expose.contains("PAYMENT-RESPONSE"),
        "{expose}"
    );
    assert_eq!(get.headers()["cache-control"], "no-store");
    assert!(stack.origin_log(&prefix).await.is_empty());
}

#[tokio::test]
async fn requirements_are_byte_identical_across_requests() {
    let stack = Stack::shared();
    let prefix = unique_prefix("stable");
    let (gw, _) = priced_gateway(stack, &prefix, "$0.001").await;
    let a = challenge(&gw, &format!("{prefix}/r")).await;
    let b = challenge(&gw, &format!("{prefix}/r")).await;
    assert_eq!(a.0["accepts"].to_string(), b.0["accepts"].to_string());
    assert_eq!(a.1, b.1);
    assert_eq!(a.0["resource"]["url"], gw.url(&format!("{prefix}/r")));
    assert_eq!(
        a.1["accepts"][0]["network"], "base-sepolia",
        "v1 body uses v1 names"
    );
}

#[tokio::test]
async fn unmatched_requests_go_free_to_the_default_origin_without_spoofed_payer_headers() {
    let stack = Stack::shared();
    let prefix = unique_prefix("free");
    let (gw, _) = priced_gateway(stack, "/priced-elsewhere", "$0.001").await;
    let resp = reqwest::Client::new()
        .post(gw.url(&format!("{prefix}/submit")))
        .header("X402-Payer", "0xspoofed")
        .body("hello")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["body"], "hello", "request bodies pass through");
    let log = stack.origin_log(&prefix).await;
    assert_eq!(log.len(), 1);
    assert!(log[0]["headers"].get("x402-payer").is_none());
}

#[tokio::test]
async fn admin_endpoints_report_health_status_and_metrics() {
    let stack = Stack::shared();
    let prefix = unique_prefix("admin");
    let (gw, _) = priced_gateway(stack, &prefix, "$0.001").await;
    let _ = challenge(&gw, &format!("{prefix}/r")).await;
    assert_eq!(
        reqwest::get(gw.admin("/healthz"))
            .await
            .expect("healthz")
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(gw.admin("/readyz"))
            .await
            .expect("readyz")
            .status(),
        200
    );
    let status = gw.status().await;
    assert_eq!(status["config"]["version"], 1);
    assert!(status["config"]["last_reload_error"].is_null());
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("x402_challenges_total{route=\"priced\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("x402_requests_total{outcome=\"payment_required\",route=\"priced\"} 1"),
        "{metrics}"
    );
}

/// `[access_log] query = false` keeps query strings (tokens, search terms) out of the log, and
/// `/status` never shows the facilitator's credentials.
#[tokio::test]
async fn access_log_can_omit_queries_and_status_masks_facilitator_credentials() {
    let stack = Stack::shared();
    let prefix = unique_prefix("quiet");
    let origin = stack.info.origin.trim_start_matches("http://");
    let facilitator = stack
        .info
        .facilitator
        .replace("http://", "http://operator:hunter2@");
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:{{PORT}}\"]\n\n[admin]\nlisten = \"127.0.0.1:{{ADMIN}}\"\n\n[access_log]\nquery = false\n\n[facilitator]\nurl = \"{facilitator}?key=s3cret\"\n\n[origins.origin]\naddresses = [\"{origin}\"]\n"
    );
    let gw = crate::support::Gateway::start(&config).await;
    let resp = reqwest::get(gw.url(&format!("{prefix}/page?token=abc123")))
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    let status = gw.status().await;
    let shown = status["facilitator"]["url"].as_str().expect("url");
    assert!(
        !shown.contains("hunter2") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert!(
        shown.contains("***@") && shown.contains("key=***"),
        "{shown}"
    );
    let line = format!("{prefix}/page");
    let logged = crate::support::eventually(5, || {
        let seen = gw.log().contains(&line);
        async move { seen }
    })
    .await;
    assert!(logged, "the access line is written: {}", gw.log());
    let log = gw.log();
    assert!(!log.contains("abc123"), "{log}");
    assert!(!log.contains("hunter2") && !log.contains("s3cret"), "{log}");
}

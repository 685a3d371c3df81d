//! Named origins: several addresses balanced round-robin, health checks that keep traffic off a
//! dead server, and the Host header policy.

use std::time::Duration;

use crate::support::gateway::free_port;
use alloy_primitives::U256;

use crate::support::{Gateway, Stack, fresh_address, node, unique_prefix};

#[tokio::test]
async fn health_checks_keep_traffic_off_a_dead_server_and_host_is_rewritten() {
    let stack = Stack::shared();
    let prefix = unique_prefix("pool");
    let live = stack.info.origin.trim_start_matches("http://");
    let dead = format!("127.0.0.1:{}", free_port());
    let routes = format!(
        r#"[origins.pool]
addresses = ["{live}", "{dead}"]
host_header = "origin.internal"
connect_timeout_ms = 500
health_check = {{ kind = "tcp", interval_secs = 1 }}

[[routes]]
name = "pooled"
path = "{prefix}/**"
price = "free"
origin = "pool"
"#
    );
    let gw = Gateway::start_with(stack, &fresh_address(), &routes).await;
    // the first health check runs within a second of start
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let client = reqwest::Client::new();
    for i in 0..20 {
        let r = client
            .get(gw.url(&format!("{prefix}/{i}")))
            .send()
            .await
            .expect("get");
        assert_eq!(
            r.status(),
            200,
            "request {i} went to the dead server:\n{}",
            gw.log()
        );
    }
    let log = stack.origin_log(&prefix).await;
    assert_eq!(log.len(), 20);
    assert!(
        log.iter()
            .all(|r| r["headers"]["host"] == "origin.internal"),
        "{:?}",
        log[0]["headers"]
    );
    assert!(log.iter().all(|r| {
        r["headers"]["x-forwarded-host"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:"))
    }));
}

#[tokio::test]
async fn an_unreachable_origin_gives_502_and_charges_nothing() {
    let stack = Stack::shared();
    let prefix = unique_prefix("deadorigin");
    let dead = format!("127.0.0.1:{}", free_port());
    let pay_to = fresh_address();
    let routes = format!(
        "[origins.gone]\naddresses = [\"{dead}\"]\nconnect_timeout_ms = 500\n\n[[routes]]\nname = \"gone\"\npath = \"{prefix}/**\"\nprice = \"$0.001\"\norigin = \"gone\"\n"
    );
    let gw = Gateway::start_with(stack, &pay_to, &routes).await;
    let r = node::pay(
        "v2",
        &gw.url(&format!("{prefix}/x")),
        &stack.payer().private_key,
        &[],
    )
    .await;
    assert_eq!(r.status, 502, "{r:?}");
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("json error body");
    assert_eq!(body["error"], "origin_error");
    assert!(!r.headers.contains_key("payment-response"));
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
}

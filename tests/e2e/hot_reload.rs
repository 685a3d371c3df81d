//! Hot reload: a new price shows within a second while requests flow and none fails; a broken file
//! leaves the old price serving and the error on `/status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, unique_prefix};

fn routes(prefix: &str, price: &str) -> String {
    format!("[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"{price}\"\n")
}

async fn current_amount(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if resp.status() != 402 {
        return Err(format!("status {}", resp.status()));
    }
    let header = resp
        .headers()
        .get("payment-required")
        .ok_or("no PAYMENT-REQUIRED")?;
    let v = decode_b64_json(header.to_str().map_err(|e| e.to_string())?);
    Ok(v["accepts"][0]["amount"].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn price_changes_apply_within_a_second_without_failed_requests() {
    let stack = Stack::shared();
    let prefix = unique_prefix("reload");
    let pay_to = fresh_address();
    let config = |price: &str| {
        Gateway::config(
            stack,
            &stack.info.facilitator,
            &pay_to,
            &routes(&prefix, price),
        )
    };
    let gw = Gateway::start(&config("$0.001")).await;
    let url = gw.url(&format!("{prefix}/item"));

    // load: several clients hammer the route the whole time
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match current_amount(&client, &url).await {
                        Ok(a) if a == "1000" || a == "2000" => ok += 1,
                        Ok(a) => failed.push(format!("amount {a}")),
                        Err(e) => failed.push(e),
                    }
                }
                (ok, failed)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    assert_eq!(current_amount(&client, &url).await.as_deref(), Ok("1000"));
    gw.rewrite_config(&config("$0.002"));
    let changed = Instant::now();
    let mut seen = None;
    while changed.elapsed() < Duration::from_secs(3) {
        if current_amount(&client, &url).await.as_deref() == Ok("2000") {
            seen = Some(changed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = seen.unwrap_or_else(|| panic!("new price never served:\n{}", gw.log()));
    assert!(seen < Duration::from_secs(1), "took {seen:?}");

    // a broken file: the old (new) price keeps serving, /status shows the error
    std::fs::write(
        gw.config_path(),
        "[[routes]]\npath = \"/x\"\nprice = \"$0.0000001\"\n",
    )
    .expect("write");
    let status_url = gw.admin("/status");
    let reported = crate::support::eventually(3, || {
        let url = status_url.clone();
        async move {
            let s: serde_json::Value = match reqwest::get(url).await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => return false,
            };
            s["config"]["last_reload_error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("gateway.toml:3:9"))
        }
    })
    .await;
    assert!(reported, "status: {}", gw.status().await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        current_amount(&client, &url).await.as_deref(),
        Ok("2000"),
        "old table keeps serving"
    );

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for l in loaders {
        let (ok, failed) = l.await.expect("loader");
        assert!(
            failed.is_empty(),
            "failed requests during reload: {failed:?}"
        );
        total += ok;
    }
    assert!(total > 20, "the load actually ran ({total} requests)");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("x402_config_reloads_total{result=\"error\"}"),
        "{metrics}"
    );
}

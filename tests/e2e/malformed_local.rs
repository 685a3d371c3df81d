//! Local verification refuses bad payments without a remote call: more than 50 malformed, tampered
//! or forged payment headers (every field of a well-signed payment bent in turn, broken encodings,
//! forged 65-byte signatures) each get a 4xx with a reason; none reaches the origin, and neither
//! the facilitator nor the chain's RPC is asked about any of them.

use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::challenge;
use crate::support::forward::forward;
use crate::support::gateway::free_port;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, node, unique_prefix};

fn encode(v: &Value) -> String {
    STANDARD.encode(v.to_string())
}

/// Copies of `good` with one thing bent each.
fn variants(good: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut bend = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        out.push((name.to_string(), encode(&v)));
    };
    let auth = |v: &mut Value, k: &str, x: Value| v["payload"]["authorization"][k] = x;
    for value in [
        "0",
        "1",
        "999",
        "1001",
        "1000000000000",
        "-1",
        "abc",
        "",
        "1e3",
        " 1000",
    ] {
        bend(&format!("value {value:?}"), &|v| {
            auth(v, "value", json!(value))
        });
    }
    let nonces = [
        "0x12",
        "0xzz00000000000000000000000000000000000000000000000000000000000000",
        "0X0000000000000000000000000000000000000000000000000000000000000001",
        "0x000000000000000000000000000000000000000000000000000000000000001",
        "0x00000000000000000000000000000000000000000000000000000000000000011",
        "0x1111111111111111111111111111111111111111111111111111111111111111",
    ];
    for nonce in nonces {
        bend(&format!("nonce {nonce}"), &|v| {
            auth(v, "nonce", json!(nonce))
        });
    }
    let someone = fresh_address();
    for (field, x) in [
        ("from", json!(someone)),
        ("from", json!("0x12")),
        ("from", json!("")),
        ("to", json!(someone)),
        ("to", json!("nobody")),
        ("validBefore", json!("1")),
        ("validBefore", json!("99999999999999999999999")),
        ("validBefore", json!("soon")),
        ("validAfter", json!("99999999999")),
        ("validAfter", json!("-5")),
    ] {
        bend(&format!("{field} {x}"), &|v| auth(v, field, x.clone()));
    }
    let sig = |bytes: Vec<u8>| format!("0x{}", alloy_primitives::hex::encode(bytes));
    let mut random = vec![0x5au8; 64];
    for (name, s) in [
        ("random sig v=27", sig([random.clone(), vec![27]].concat())),
        ("random sig v=28", sig([random.clone(), vec![28]].concat())),
        ("sig v=0", sig([random.clone(), vec![0]].concat())),
        ("sig v=29", sig([random.clone(), vec![29]].concat())),
        ("zero sig", sig(vec![0; 65])),
        (
            "high s",
            sig([vec![0x11; 32], vec![0xff; 32], vec![27]].concat()),
        ),
        ("sig not hex", "0xnothex".to_string()),
        ("sig without 0x", "ab".repeat(65)),
        ("empty sig", String::new()),
    ] {
        bend(name, &|v| v["payload"]["signature"] = json!(s.clone()));
    }
    random[0] = 0x01;
    for (field, x) in [
        ("scheme", json!("upto")),
        ("network", json!("eip155:1")),
        ("asset", json!(fresh_address())),
        ("payTo", json!(fresh_address())),
        ("amount", json!("1")),
        ("maxTimeoutSeconds", json!(1)),
    ] {
        bend(&format!("accepted.{field}"), &|v| {
            v["accepted"][field] = x.clone()
        });
    }
    bend("extra.name", &|v| {
        v["accepted"]["extra"]["name"] = json!("Not USDC")
    });
    bend("version 3", &|v| v["x402Version"] = json!(3));
    bend("no payload", &|v| {
        v.as_object_mut().map(|o| o.remove("payload"));
    });
    bend("payload array", &|v| v["payload"] = json!([1, 2]));
    bend("no accepted", &|v| {
        v.as_object_mut().map(|o| o.remove("accepted"));
    });
    bend("no authorization", &|v| {
        v["payload"]
            .as_object_mut()
            .map(|o| o.remove("authorization"));
    });
    out.push(("not base64".into(), "%%%not base64%%%".into()));
    out.push(("base64 of text".into(), STANDARD.encode("hello")));
    out.push(("base64 of array".into(), STANDARD.encode("[1,2,3]")));
    out.push(("truncated".into(), encode(good)[..40].to_string()));
    out.push(("too large".into(), "A".repeat(40_000)));
    out
}

#[tokio::test]
async fn malformed_and_forged_payments_cost_no_remote_call_in_local_mode() {
    let stack = Stack::start();
    let prefix = unique_prefix("malformed");
    let rpc_port = free_port();
    let rpc_calls = forward(
        rpc_port,
        stack.info.rpc.trim_start_matches("http://").into(),
    )
    .await;
    let routes = format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let mut config = Gateway::config(&stack, &stack.info.facilitator, &fresh_address(), &routes);
    config.push_str(&format!(
        "\n[chains.\"eip155:84532\"]\nrpc_url = \"http://127.0.0.1:{rpc_port}\"\n"
    ));
    let gw = Gateway::start(&config).await;
    let path = format!("{prefix}/r");
    let (v2, _) = challenge(&gw, &path).await;
    let good = node::sign(2, &stack.info.payers[0].private_key, &v2["accepts"][0], &[]).await;
    let bad = variants(&decode_b64_json(&good.value));
    assert!(bad.len() >= 50, "{}", bad.len());
    stack.facilitator_control("/__reset-stats", json!({})).await;
    let client = reqwest::Client::new();
    for (name, value) in &bad {
        let r = client
            .get(gw.url(&path))
            .header("PAYMENT-SIGNATURE", value)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{name}: {status}");
        let reason = match r.headers().get("payment-required") {
            Some(h) => decode_b64_json(h.to_str().expect("ascii"))["error"].clone(),
            None => r.json::<Value>().await.unwrap_or(Value::Null)["error"].clone(),
        };
        assert!(
            reason
                .as_str()
                .is_some_and(|s| !s.is_empty() && s != "Payment required"),
            "{name}: {status} without a reason ({reason})"
        );
    }
    let stats = stack.facilitator_stats().await;
    assert_eq!(
        (stats["verify"].clone(), stats["settle"].clone()),
        (json!(0), json!(0)),
        "{stats}"
    );
    assert_eq!(
        rpc_calls.load(Ordering::SeqCst),
        0,
        "no chain read for a bad payment"
    );
    assert!(stack.origin_log(&prefix).await.is_empty());
}

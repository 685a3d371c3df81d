//! Paid but not delivered: a `settle = "before"` payment whose origin is down is charged and then
//! cannot be delivered. The ledger records it as `paid_not_delivered` (on `/status` and in the
//! metrics), and the same payment header presented again gets that one delivery, without a second
//! charge; a third presentation is a replay (402).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloy_primitives::U256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::challenge;
use crate::support::gateway::free_port;
use crate::support::{
    Gateway, Stack, decode_b64_json, eventually, fresh_address, node, unique_prefix,
};

/// A minimal origin on `port` answering `200 ok` to every request; counts them.
async fn tiny_origin(port: u16) -> Arc<AtomicUsize> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    served
}

#[tokio::test]
async fn a_payment_charged_but_not_delivered_gets_its_one_delivery_when_presented_again() {
    let stack = Stack::shared();
    let prefix = unique_prefix("pnd");
    let pay_to = fresh_address();
    let late = free_port();
    let routes = format!(
        "[origins.late]\naddresses = [\"127.0.0.1:{late}\"]\n\n[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\nsettle = \"before\"\norigin = \"late\"\n"
    );
    let gw = Gateway::start_with(stack, &pay_to, &routes).await;
    let path = format!("{prefix}/doc");
    let (v2, _) = challenge(&gw, &path).await;
    let s = node::sign(2, &stack.payer().private_key, &v2["accepts"][0], &[]).await;
    let client = reqwest::Client::new();
    let send = || client.get(gw.url(&path)).header(&s.header, &s.value).send();

    // The origin is down: settled first, then nothing to deliver.
    let r = send().await.expect("send");
    assert_eq!(r.status(), 502, "{}", gw.log());
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(1000),
        "charged"
    );
    let recorded = eventually(10, || async {
        gw.status().await["ledger"]["paid_not_delivered"] == 1
    })
    .await;
    assert!(recorded, "{}\n{}", gw.status().await, gw.log());
    assert!(gw.metrics().await.contains("x402_paid_not_delivered 1"));

    // The origin is back: the same payment gets its delivery, and is not charged again.
    let served = tiny_origin(late).await;
    let r = send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", gw.log());
    let settlement = decode_b64_json(r.headers()["payment-response"].to_str().expect("ascii"));
    assert_eq!(settlement["success"], true, "{settlement}");
    assert_eq!(r.text().await.expect("body"), "ok");
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(
        stack.usdc_balance(&pay_to).await,
        U256::from(1000),
        "one charge"
    );

    // Delivered once: now it is a replay.
    let r = send().await.expect("send");
    assert_eq!(r.status(), 402);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(gw.status().await["ledger"]["paid_not_delivered"], 0);
}

#[tokio::test]
async fn a_payment_given_back_can_be_presented_again() {
    let stack = Stack::shared();
    let prefix = unique_prefix("given-back");
    let pay_to = fresh_address();
    let routes = format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let gw = Gateway::start_with(stack, &pay_to, &routes).await;
    let (v2, _) = challenge(&gw, &format!("{prefix}/ok")).await;
    let s = node::sign(2, &stack.payer().private_key, &v2["accepts"][0], &[]).await;
    let client = reqwest::Client::new();
    let send = |path: String| client.get(gw.url(&path)).header(&s.header, &s.value).send();
    // The origin fails: nothing charged, the claim given back (and its ledger row released).
    let r = send(format!("{prefix}/status/500/x")).await.expect("send");
    assert_eq!(r.status(), 500);
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::ZERO);
    // The same payment buys the next delivery, once.
    let r = send(format!("{prefix}/ok")).await.expect("send");
    assert_eq!(r.status(), 200, "{}", gw.log());
    assert_eq!(stack.usdc_balance(&pay_to).await, U256::from(1000));
    let r = send(format!("{prefix}/ok")).await.expect("send");
    assert_eq!(r.status(), 402);
}

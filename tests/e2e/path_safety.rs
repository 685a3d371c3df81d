//! Paths that could mean one thing to the gateway and another to the origin never buy paid content
//! for free: dot segments are resolved before matching and the origin gets the resolved path;
//! encoded slashes and backslashes are refused. Raw HTTP, since clients resolve `..` themselves.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::priced_gateway;
use crate::support::{Stack, unique_prefix};

/// Sends `GET <target>` exactly as written; returns the status code.
async fn raw_get(port: u16, target: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let req =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn traversal_and_encoded_slashes_never_reach_paid_content_free() {
    let stack = Stack::shared();
    let paid = unique_prefix("paidpath");
    let free = unique_prefix("freepath");
    // Everything outside `paid` is free (unmatched requests go to the default origin).
    let (gw, _) = priced_gateway(stack, &paid, "$0.001").await;

    // dot segments are resolved before matching: still priced
    assert_eq!(
        raw_get(gw.port, &format!("{free}/../..{paid}/r")).await,
        402
    );
    assert_eq!(raw_get(gw.port, &format!("{paid}/./x/../r")).await, 402);
    // an encoded slash or a backslash could name the paid path at the origin: refused
    let tail = paid.trim_start_matches('/').replace('/', "%2F");
    assert_eq!(
        raw_get(gw.port, &format!("{free}/..%2F..%2F{tail}/r")).await,
        400
    );
    assert_eq!(raw_get(gw.port, &format!("{free}/x%2fy")).await, 400);
    assert_eq!(
        raw_get(gw.port, &format!("{free}/..\\..{paid}/r")).await,
        400
    );
    assert!(
        stack.origin_log(&paid).await.is_empty(),
        "no paid path reached the origin"
    );

    // a free request reaches the origin with the path it was matched on
    assert_eq!(
        raw_get(gw.port, &format!("{free}/a/./b//c/../d?q=1")).await,
        200
    );
    let log = stack.origin_log(&free).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["path"], format!("{free}/a/b/d?q=1"));
}

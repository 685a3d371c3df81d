//! Connection limits: a slow request head is cut off (for every request on a connection, not only
//! the first) while a busy keep-alive client goes on being served; idle keep-alive connections are
//! closed; oversized heads get 431; connections beyond `max_connections` are closed unserved.
//! All raw TCP with timeouts, so a misbehaving gateway fails the test instead of hanging it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::lenient_origin::{
    LenientOrigin, Profile, RawConn, ReadOutcome, exchange, gateway_config,
};
use crate::support::{Gateway, eventually, metric};

const FREE: &str = r#"[[routes]]
name = "free"
path = "/**"
price = "free"
"#;

const KEEP_ALIVE_GET: &[u8] = b"GET /free/x HTTP/1.1\r\nHost: a\r\n\r\n";

/// A gateway with `server_extra` in `[server]`, everything free, in front of a lenient origin.
async fn start(server_extra: &str) -> (LenientOrigin, Gateway) {
    let origin = LenientOrigin::start(Profile::Express);
    let gw = Gateway::start(&gateway_config(origin.port, server_extra, FREE)).await;
    (origin, gw)
}

/// Waits (up to 3 s) until `x402_connections_closed_total{reason}` reaches `at_least`.
async fn assert_closed_metric(gw: &Gateway, reason: &str, at_least: f64) {
    let label = format!("reason=\"{reason}\"");
    let reached = eventually(3, || {
        let label = label.clone();
        async move {
            metric(
                &gw.metrics().await,
                "x402_connections_closed_total",
                Some(&label),
            ) >= at_least
        }
    })
    .await;
    let metrics = gw.metrics().await;
    assert!(
        reached,
        "x402_connections_closed_total{{{label}}} < {at_least}:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("x402_connections"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Sends `head` one byte every 200 ms (after `prefix` in one write) while reading; returns how long
/// after the first byte the gateway closed the connection, or `None` if it had not within 5 s.
async fn trickle_until_closed(conn: &mut RawConn, prefix: &[u8], head: &[u8]) -> Option<Duration> {
    let (mut rd, mut wr) = conn.stream.split();
    let started = Instant::now();
    let write = async {
        let beat = Duration::from_millis(200);
        if !prefix.is_empty() {
            if wr.write_all(prefix).await.is_err() {
                return;
            }
            tokio::time::sleep(beat).await;
        }
        for b in head {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(beat).await;
        }
        // the head never ends: keep the connection open with nothing more to say
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut buf = [0u8; 4096];
        while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
        started.elapsed()
    };
    tokio::time::timeout(Duration::from_secs(5), async {
        tokio::select! {
            () = write => None,
            at = closed => Some(at),
        }
    })
    .await
    .ok()
    .flatten()
}

fn assert_cut_off(who: &str, after: Option<Duration>) {
    let after = after.unwrap_or_else(|| panic!("{who}: not closed within 5 s"));
    assert!(
        after >= Duration::from_millis(800) && after <= Duration::from_millis(2500),
        "{who}: closed {after:?} after its first byte (header_timeout_ms = 1000)"
    );
}

/// A keep-alive GET every 100 ms on one connection for `run_for`; returns (responses, failures).
async fn busy_client(port: u16, run_for: Duration) -> (usize, Vec<String>) {
    let mut conn = RawConn::connect(port).await;
    let end = Instant::now() + run_for;
    let mut ok = 0;
    let mut failures = Vec::new();
    while Instant::now() < end {
        if !conn.send(KEEP_ALIVE_GET).await {
            failures.push(format!("write failed after {ok} responses"));
            break;
        }
        match conn.read_response(Duration::from_secs(2), false).await {
            ReadOutcome::Response(r) if r.status == 200 => ok += 1,
            ReadOutcome::Response(r) => failures.push(format!("status {}", r.status)),
            other => {
                failures.push(format!("{other:?} after {ok} responses"));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (ok, failures)
}

#[tokio::test]
async fn slow_request_heads_are_cut_off_while_a_busy_keep_alive_client_is_served() {
    let (_origin, gw) = start("header_timeout_ms = 1000\nidle_timeout_ms = 3000").await;
    let port = gw.port;
    let slow_head = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    // slowloris on the first request: the request line and one header at once, then a byte a beat
    let first = async {
        let mut conn = RawConn::connect(port).await;
        trickle_until_closed(&mut conn, b"GET /free/x HTTP/1.1\r\nHost: a\r\n", slow_head).await
    };
    // one complete request, then the next head a byte at a time
    let second = async {
        let mut conn = RawConn::connect(port).await;
        assert!(conn.send(KEEP_ALIVE_GET).await);
        match conn.read_response(Duration::from_secs(5), false).await {
            ReadOutcome::Response(r) => assert_eq!(r.status, 200, "first request"),
            other => panic!("first request on the keep-alive connection: {other:?}"),
        }
        let mut head = b"GET /free/x HTTP/1.1\r\nHost: a\r\n".to_vec();
        head.extend_from_slice(slow_head);
        trickle_until_closed(&mut conn, b"", &head).await
    };
    let busy = busy_client(port, Duration::from_millis(3500));

    let (first, second, (served, failures)) = tokio::join!(first, second, busy);
    assert_cut_off("slow first request", first);
    assert_cut_off("slow second request on a keep-alive connection", second);
    assert!(
        failures.is_empty() && served >= 15,
        "the busy keep-alive client got {served} responses and {failures:?}"
    );
    assert_closed_metric(&gw, "header_timeout", 2.0).await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let (_origin, gw) = start("idle_timeout_ms = 1000").await;
    let mut conn = RawConn::connect(gw.port).await;
    assert!(conn.send(KEEP_ALIVE_GET).await);
    match conn.read_response(Duration::from_secs(5), false).await {
        ReadOutcome::Response(r) => assert_eq!(r.status, 200),
        other => panic!("keep-alive request: {other:?}"),
    }
    let silent = Instant::now();
    assert!(
        conn.closed_within(Duration::from_secs(4)).await,
        "an idle keep-alive connection was still open after 4 s (idle_timeout_ms = 1000)"
    );
    let after = silent.elapsed();
    assert!(
        after >= Duration::from_millis(800) && after <= Duration::from_millis(2500),
        "closed {after:?} after going idle (idle_timeout_ms = 1000)"
    );
    assert_closed_metric(&gw, "idle", 1.0).await;
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let (origin, gw) = start("max_request_header_bytes = 8192").await;
    let request = |len: usize| {
        format!(
            "GET /free/x HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "b".repeat(len)
        )
    };
    match exchange(gw.port, request(20_000).as_bytes()).await {
        ReadOutcome::Response(r) => {
            assert_eq!(r.status, 431, "{}", r.body_text());
            assert_eq!(
                r.error_code().as_deref(),
                Some("request_headers_too_large"),
                "{}",
                r.body_text()
            );
        }
        other => panic!("20,000-byte header: {other:?}"),
    }
    assert_eq!(origin.count(), 0, "the oversized request was not forwarded");
    match exchange(gw.port, request(4_000).as_bytes()).await {
        ReadOutcome::Response(r) => assert_eq!(r.status, 200, "{}", r.body_text()),
        other => panic!("4,000-byte header: {other:?}"),
    }
    assert_eq!(origin.count(), 1);
}

#[tokio::test]
async fn connections_beyond_max_connections_are_closed_unserved() {
    let (origin, gw) = start("max_connections = 4").await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(RawConn::connect(gw.port).await);
    }
    let gw_ref = &gw;
    let all_open = eventually(3, move || async move {
        metric(&gw_ref.metrics().await, "x402_connections_open", None) >= 4.0
    })
    .await;
    assert!(
        all_open,
        "x402_connections_open never reached 4:\n{}",
        gw.metrics().await
    );

    let mut fifth = RawConn::connect(gw.port).await;
    let _ = fifth
        .send(b"GET /free/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await;
    match fifth.read_response(Duration::from_secs(1), false).await {
        ReadOutcome::Closed => {}
        ReadOutcome::Response(r) => panic!("a 5th connection was served: {}", r.status),
        ReadOutcome::TimedOut => panic!("a 5th connection was neither served nor closed in 1 s"),
    }
    assert_eq!(origin.count(), 0);

    idle.truncate(2);
    let port = gw.port;
    let served = eventually(2, move || async move {
        let mut conn = RawConn::connect(port).await;
        conn.send(b"GET /free/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
            && matches!(
                conn.read_response(Duration::from_secs(1), false).await,
                ReadOutcome::Response(r) if r.status == 200
            )
    })
    .await;
    assert!(served, "no connection was served after two of four closed");
    assert_closed_metric(&gw, "over_limit", 1.0).await;
    drop(idle);
}

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};

use ipnet::IpNet;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const GOOGLE_SHAPE: &str = r#"{
  "creationTime": "2030-01-01T00:00:00.000000",
  "prefixes": [
    {"ipv6Prefix": "2001:db8:4801:10::/64"},
    {"ipv4Prefix": "192.0.2.64/27"},
    {"ipv4Prefix": "198.51.100.0/24", "service": "ignored"}
  ]
}"#;

#[test]
fn google_json_shape() {
    let r = IpRanges::parse(GOOGLE_SHAPE).unwrap();
    assert_eq!(r.len(), 3);
    assert!(!r.is_empty());
    for inside in ["192.0.2.64", "192.0.2.95", "198.51.100.0", "198.51.100.255"] {
        assert!(r.contains(ip(inside)), "{inside}");
    }
    for outside in [
        "192.0.2.63",
        "192.0.2.96",
        "198.51.99.255",
        "198.51.101.0",
        "0.0.0.0",
    ] {
        assert!(!r.contains(ip(outside)), "{outside}");
    }
    assert!(r.contains(ip("2001:db8:4801:10::")));
    assert!(r.contains(ip("2001:db8:4801:10:ffff:ffff:ffff:ffff")));
    assert!(!r.contains(ip("2001:db8:4801:f:ffff:ffff:ffff:ffff")));
    assert!(!r.contains(ip("2001:db8:4801:11::")));
    // Without creationTime, with unknown top-level fields, with a bare string among the prefixes.
    let r =
        IpRanges::parse(r#"{"syncToken":"1","prefixes":["10.0.0.0/8",{"ipv4Prefix":"11.0.0.1"}]}"#)
            .unwrap();
    assert!(r.contains(ip("10.255.255.255")) && r.contains(ip("11.0.0.1")));
    assert!(!r.contains(ip("11.0.0.2")));
}

#[test]
fn json_array_and_text_shapes() {
    let r = IpRanges::parse(r#" ["192.0.2.0/24", "2001:db8::/32", "203.0.113.7"] "#).unwrap();
    assert!(r.contains(ip("192.0.2.200")) && r.contains(ip("2001:db8:ffff::1")));
    assert!(r.contains(ip("203.0.113.7")) && !r.contains(ip("203.0.113.8")));

    let text = "\u{feff}# GPTBot\r\n\r\n192.0.2.0/28   # first block\r\n  2001:db8::1\r\n#198.51.100.0/24\r\n203.0.113.0/30\r\n";
    let r = IpRanges::parse(text).unwrap();
    assert_eq!(r.len(), 3);
    assert!(r.contains(ip("192.0.2.15")) && !r.contains(ip("192.0.2.16")));
    assert!(r.contains(ip("2001:db8::1")) && !r.contains(ip("2001:db8::2")));
    assert!(!r.contains(ip("198.51.100.1")));
    assert!(r.contains(ip("203.0.113.3")) && !r.contains(ip("203.0.113.4")));
    // Host bits set: the whole network.
    let r = IpRanges::parse("192.0.2.77/24").unwrap();
    assert!(r.contains(ip("192.0.2.0")) && r.contains(ip("192.0.2.255")));
}

#[test]
fn edges_of_the_address_spaces() {
    let r = IpRanges::parse(
        "0.0.0.0/32\n255.255.255.255/32\n::/128\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
    )
    .unwrap();
    assert!(r.contains(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    assert!(r.contains(IpAddr::V4(Ipv4Addr::BROADCAST)));
    assert!(!r.contains(ip("0.0.0.1")) && !r.contains(ip("255.255.255.254")));
    assert!(r.contains(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
    assert!(r.contains(IpAddr::V6(Ipv6Addr::from(u128::MAX))));
    assert!(!r.contains(ip("::2")) && !r.contains(IpAddr::V6(Ipv6Addr::from(u128::MAX - 1))));
    let all = IpRanges::parse("0.0.0.0/0\n::/0\n10.0.0.0/8\n255.0.0.0/8").unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.contains(ip("8.8.8.8")) && all.contains(ip("2001:db8::8")));
}

#[test]
fn mapped_ipv4_is_checked_as_ipv4() {
    let r = IpRanges::parse("192.0.2.0/24").unwrap();
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
    assert!(r.contains(mapped));
    assert!(!r.contains(IpAddr::V6(Ipv4Addr::new(192, 0, 3, 9).to_ipv6_mapped())));
    // A mapped prefix in a list is an IPv4 range.
    let r = IpRanges::parse("::ffff:198.51.100.0/120").unwrap();
    assert!(r.contains(ip("198.51.100.77")) && !r.contains(ip("198.51.101.0")));
    assert!(r.contains(ip("::ffff:198.51.100.1")));
}

#[test]
fn overlapping_and_adjacent_ranges_merge() {
    let r = IpRanges::parse(
        "10.0.0.128/25\n10.0.0.0/24\n10.0.1.0/24\n10.0.3.0/24\n10.0.3.5\n2001:db8::/33\n2001:db8:8000::/33",
    )
    .unwrap();
    // 10.0.0.0–10.0.1.255, 10.0.3.0/24, 2001:db8::/32.
    assert_eq!(r.len(), 3);
    assert!(r.contains(ip("10.0.1.255")) && !r.contains(ip("10.0.2.0")));
    let a = IpRanges::parse("192.0.2.0/25\n2001:db8::/48").unwrap();
    let b = IpRanges::parse("192.0.2.128/25\n198.51.100.0/24").unwrap();
    let union = IpRanges::merge(&[&a, &b]);
    assert_eq!(union.len(), 3);
    for addr in ["192.0.2.0", "192.0.2.255", "198.51.100.9", "2001:db8::9"] {
        assert!(union.contains(ip(addr)), "{addr}");
    }
    assert_eq!(IpRanges::merge(&[&a, &a]), a);
    assert!(IpRanges::merge(&[]).is_empty());
}

#[test]
fn malformed_entries_are_refused_by_name() {
    let cases = [
        (
            r#"{"prefixes":[{"ipv4Prefix":"192.0.2.0/24"},{"ipv4Prefix":"192.0.2.0/33"}]}"#,
            "prefixes[1].ipv4Prefix",
        ),
        (
            r#"{"prefixes":[{"ipv4Prefix":"2001:db8::/32"}]}"#,
            "is not IPv4",
        ),
        (
            r#"{"prefixes":[{"ipv6Prefix":"192.0.2.0/24"}]}"#,
            "is not IPv6",
        ),
        (
            r#"{"prefixes":[{"ipv4Prefix":"192.0.2.0/24"},{"service":"x"}]}"#,
            "prefixes[1]: no",
        ),
        (r#"{"prefixes":[{"ipv4Prefix":42}]}"#, "not a string"),
        (r#"{"creationTime":"x"}"#, "\"prefixes\""),
        (r#"{"prefixes":[]}"#, "no IP ranges"),
        (r#"{"prefixes":[{"ipv4Prefix":"#, "invalid JSON"),
        (r#"["192.0.2.0/24", 7]"#, "[1]: not a string"),
        (r#"["192.0.2.0/24", "192.0.2.0/24/1"]"#, "[1]"),
        ("192.0.2.0/24\n\nbogus\n", "line 3"),
        ("192.0.2.0/24 198.51.100.0/24", "line 1"),
        ("192.0.2.256", "line 1"),
        ("", "no IP ranges"),
        ("# only a comment\n\n", "no IP ranges"),
        ("[]", "no IP ranges"),
    ];
    for (text, expected) in cases {
        let err = IpRanges::parse(text).unwrap_err();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
    let err = IpRanges::parse("192.0.2.0/24\n10.0.0.0/40").unwrap_err();
    assert!(err.contains("10.0.0.0/40"), "{err}");
}

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG), high bits.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }
}

#[test]
fn contains_matches_a_naive_scan() {
    let mut rng = Lcg(0x5eed);
    // Small address spaces (10.0.0.0/16, 2001:db8::/112) so both hits and misses are common.
    let v4 = |rng: &mut Lcg| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (rng.next() as u32 & 0xffff)));
    let v6 = |rng: &mut Lcg| {
        IpAddr::V6(Ipv6Addr::from(
            0x2001_0db8_u128 << 96 | u128::from(rng.next() as u16),
        ))
    };
    let mut nets = Vec::new();
    let mut text = String::new();
    for i in 0..60 {
        let (addr, len) = if i % 2 == 0 {
            (v4(&mut rng), 18 + (rng.next() % 15) as u8)
        } else {
            (v6(&mut rng), 114 + (rng.next() % 15) as u8)
        };
        let net = IpNet::new(addr, len).unwrap();
        text.push_str(&format!("{net}\n"));
        nets.push(net);
    }
    let ranges = IpRanges::parse(&text).unwrap();
    let (mut hits, mut misses) = (0, 0);
    for i in 0..600 {
        let addr = if i % 2 == 0 {
            v4(&mut rng)
        } else {
            v6(&mut rng)
        };
        let naive = nets.iter().any(|n| n.contains(&addr));
        assert_eq!(ranges.contains(addr), naive, "{addr}");
        if naive {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    assert!(hits > 50 && misses > 50, "hits {hits}, misses {misses}");
}

/// Serves `responses` in order on 127.0.0.1, one connection each; the base URL.
fn serve(responses: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(&response);
        }
    });
    base
}

fn response(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn load_from_a_url() {
    let client = no_redirects();
    let base = serve(vec![
        response(
            "200 OK",
            "content-type: application/json\r\n",
            GOOGLE_SHAPE.as_bytes(),
        ),
        response("404 Not Found", "", b"nope"),
        response("302 Found", "location: /list.json\r\n", b""),
        response("200 OK", "", b"not an ip\n"),
    ]);
    let r = load(&format!("{base}/list.json"), &client).await.unwrap();
    assert!(r.contains(ip("192.0.2.70")));
    let err = load(&format!("{base}/list.json"), &client)
        .await
        .unwrap_err();
    assert!(err.contains("404"), "{err}");
    let err = load(&format!("{base}/old.json"), &client)
        .await
        .unwrap_err();
    assert!(err.contains("302") && err.contains("redirects"), "{err}");
    let err = load(&format!("{base}/list.txt"), &client)
        .await
        .unwrap_err();
    assert!(err.contains("line 1") && err.contains("/list.txt"), "{err}");
}

#[tokio::test]
async fn load_refuses_a_followed_redirect_and_oversized_bodies() {
    let following = reqwest::Client::builder().no_proxy().build().unwrap();
    let listener_base = serve(vec![
        response("302 Found", "location: /elsewhere.json\r\n", b""),
        response("200 OK", "", GOOGLE_SHAPE.as_bytes()),
    ]);
    let err = load(&format!("{listener_base}/list.json"), &following)
        .await
        .unwrap_err();
    assert!(
        err.contains("redirected to") && err.contains("/elsewhere.json"),
        "{err}"
    );

    let big = "192.0.2.1\n".repeat(MAX_BYTES / 10 + 1).into_bytes();
    let mut no_length = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    no_length.extend_from_slice(&big);
    let base = serve(vec![response("200 OK", "", &big), no_length]);
    let client = no_redirects();
    let err = load(&format!("{base}/a"), &client).await.unwrap_err();
    assert!(err.contains("over"), "{err}");
    let err = load(&format!("{base}/b"), &client).await.unwrap_err();
    assert!(err.contains("over"), "{err}");
}

#[tokio::test]
async fn load_from_a_file() {
    let path = std::env::temp_dir().join(format!("ip-ranges-test-{}.txt", std::process::id()));
    std::fs::write(&path, "# list\n192.0.2.0/24\n").unwrap();
    let client = no_redirects();
    let r = load(path.to_str().unwrap(), &client).await;
    std::fs::remove_file(&path).unwrap();
    assert!(r.unwrap().contains(ip("192.0.2.1")));
    let err = load(path.to_str().unwrap(), &client).await.unwrap_err();
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    let err = load("ftp://127.0.0.1/list.txt", &client).await.unwrap_err();
    assert!(err.contains("unsupported scheme"), "{err}");
}

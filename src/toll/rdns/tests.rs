use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// A dnsmasq on 127.0.0.1 with only the given `--host-record`/`--ptr-record` flags; killed on
/// drop. (The e2e suite has the full launcher, `tests/e2e/support/dns.rs`.)
struct Dnsmasq(Child, SocketAddr);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// None (and a note on stderr) when dnsmasq is not installed: `scripts/setup --harness`.
fn dnsmasq(records: &[&str]) -> Option<Dnsmasq> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(bin) = std::env::split_paths(&path)
        .map(|dir| dir.join("dnsmasq"))
        .chain([std::path::PathBuf::from("/usr/sbin/dnsmasq")])
        .find(|p| p.is_file())
    else {
        eprintln!("SKIPPED: dnsmasq is not installed (scripts/setup --harness installs it)");
        return None;
    };
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = Command::new(bin)
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--no-resolv",
        ])
        .args([
            "--no-hosts",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
        ])
        .arg(format!("--port={}", addr.port()))
        .args(records)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut dns = Dnsmasq(child, addr);
    // Ready when a query (`ready.test. IN A`) gets any reply.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let query =
        b"\x5e\xed\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x04test\x00\x00\x01\x00\x01";
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        assert!(dns.0.try_wait().unwrap().is_none(), "dnsmasq exited");
        probe.send_to(query, addr).unwrap();
        if probe.recv_from(&mut [0u8; 512]).is_ok() {
            return Some(dns);
        }
    }
    let _ = dns.0.kill();
    panic!("dnsmasq did not answer on {addr}");
}

/// The records of the brief: .66 confirmed, .67 PTR without A, .68 confirmed outside googlebot,
/// .69 `notgooglebot.com`, .70 PTR whose name points at .71, ::1 an IPv6 crawler, .72 a PTR
/// name that is a CNAME of the name with the A record.
fn crawlers() -> Option<Dnsmasq> {
    dnsmasq(&[
        "--host-record=crawl-127-0-0-66.googlebot.com,127.0.0.66",
        "--ptr-record=66.0.0.127.in-addr.arpa,crawl-127-0-0-66.googlebot.com",
        "--ptr-record=67.0.0.127.in-addr.arpa,fake.googlebot.com",
        "--ptr-record=68.0.0.127.in-addr.arpa,crawl.evil.example",
        "--host-record=crawl.evil.example,127.0.0.68",
        "--host-record=crawl.notgooglebot.com,127.0.0.69",
        "--ptr-record=70.0.0.127.in-addr.arpa,crawl-70.googlebot.com",
        "--host-record=crawl-70.googlebot.com,127.0.0.71",
        "--host-record=crawl-v6.googlebot.com,::1",
        "--ptr-record=72.0.0.127.in-addr.arpa,alias-72.googlebot.com",
        "--cname=alias-72.googlebot.com,real-72.googlebot.com",
        "--host-record=real-72.googlebot.com,127.0.0.72",
    ])
}

fn resolver(server: SocketAddr, timeout: Duration) -> Resolver {
    Resolver::new(&DnsSettings {
        nameservers: vec![server],
        cache_ttl: Duration::from_secs(3600),
        timeout,
    })
    .unwrap()
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn googlebot() -> Vec<String> {
    vec![".googlebot.com".to_string(), ".google.com".to_string()]
}

#[tokio::test]
async fn forward_confirmed_names_only() {
    let Some(dns) = crawlers() else { return };
    let r = resolver(dns.1, Duration::from_secs(3));
    assert_eq!(
        r.confirm(v4(66), &googlebot()).await.as_deref(),
        Some("crawl-127-0-0-66.googlebot.com")
    );
    // PTR without an A record, and a PTR name whose A record is another IP: not confirmed.
    assert_eq!(r.confirm(v4(67), &googlebot()).await, None);
    assert_eq!(r.confirm(v4(70), &googlebot()).await, None);
    // Confirmed, but not under the suffixes asked about; the cached names serve other suffixes.
    assert_eq!(r.confirm(v4(68), &googlebot()).await, None);
    let before = r.lookups();
    let evil = [".evil.example".to_string()];
    assert_eq!(
        r.confirm(v4(68), &evil).await.as_deref(),
        Some("crawl.evil.example")
    );
    assert_eq!(r.lookups(), before);
    // A label boundary: `crawl.notgooglebot.com` is not under `googlebot.com`.
    assert_eq!(
        r.confirm(v4(69), &["googlebot.com".to_string()]).await,
        None
    );
    let not = ["notgooglebot.com".to_string()];
    assert_eq!(
        r.confirm(v4(69), &not).await.as_deref(),
        Some("crawl.notgooglebot.com")
    );
    // An address nobody named.
    assert_eq!(r.confirm(v4(99), &googlebot()).await, None);
    // The A record found through a CNAME in the answer.
    let alias = ["alias-72.googlebot.com".to_string()];
    assert_eq!(
        r.confirm(v4(72), &alias).await.as_deref(),
        Some("alias-72.googlebot.com")
    );
    // IPv6 (PTR in ip6.arpa, AAAA back).
    assert_eq!(
        r.confirm(IpAddr::V6(Ipv6Addr::LOCALHOST), &googlebot())
            .await
            .as_deref(),
        Some("crawl-v6.googlebot.com")
    );
}

#[tokio::test]
async fn suffixes_are_case_insensitive_and_dot_tolerant() {
    let Some(dns) = crawlers() else { return };
    let r = resolver(dns.1, Duration::from_secs(3));
    for suffix in [
        ".GoogleBot.COM.",
        "googlebot.com",
        "crawl-127-0-0-66.googlebot.com",
    ] {
        assert_eq!(
            r.confirm(v4(66), &[suffix.to_string()]).await.as_deref(),
            Some("crawl-127-0-0-66.googlebot.com"),
            "{suffix}"
        );
    }
    for suffix in [
        "",
        ".",
        "com.googlebot",
        "bot.com",
        "-127-0-0-66.googlebot.com",
    ] {
        assert_eq!(
            r.confirm(v4(66), &[suffix.to_string()]).await,
            None,
            "{suffix:?}"
        );
    }
    assert_eq!(r.confirm(v4(66), &[]).await, None);
    // One PTR query for all of that.
    assert_eq!(r.lookups(), 1);
}

#[tokio::test]
async fn cached_per_ip_and_mapped_ipv4_shares_the_entry() {
    let Some(dns) = crawlers() else { return };
    let r = resolver(dns.1, Duration::from_secs(3));
    assert!(r.confirm(v4(66), &googlebot()).await.is_some());
    assert!(r.confirm(v4(67), &googlebot()).await.is_none());
    assert_eq!(r.lookups(), 2);
    assert!(r.confirm(v4(66), &googlebot()).await.is_some());
    assert!(r.confirm(v4(67), &googlebot()).await.is_none());
    let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 66).to_ipv6_mapped());
    assert!(r.confirm(mapped, &googlebot()).await.is_some());
    assert_eq!(r.lookups(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_of_one_ip_make_one_query() {
    let Some(dns) = crawlers() else { return };
    let r = Arc::new(resolver(dns.1, Duration::from_secs(3)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let r = r.clone();
        tasks.spawn(async move { r.confirm(v4(66), &googlebot()).await });
    }
    while let Some(found) = tasks.join_next().await {
        assert_eq!(
            found.unwrap().as_deref(),
            Some("crawl-127-0-0-66.googlebot.com")
        );
    }
    assert_eq!(r.lookups(), 1);
}

#[tokio::test]
async fn a_silent_server_times_out_to_a_cached_none() {
    // A UDP socket that never answers (and no TCP listener on its port).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = resolver(silent.local_addr().unwrap(), Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(r.confirm(v4(66), &googlebot()).await, None);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.confirm(v4(66), &googlebot()).await, None);
    assert_eq!(r.lookups(), 1);
}

#[test]
fn settings_are_checked_and_need_no_runtime() {
    let settings = |timeout, cache_ttl| DnsSettings {
        nameservers: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 5353))],
        cache_ttl,
        timeout,
    };
    let hour = Duration::from_secs(3600);
    assert!(Resolver::new(&settings(Duration::from_secs(2), hour)).is_ok());
    assert!(Resolver::new(&settings(Duration::from_secs(2), Duration::ZERO)).is_ok());
    assert!(Resolver::new(&settings(Duration::ZERO, hour)).is_err());
    assert!(Resolver::new(&settings(Duration::MAX, hour)).is_err());
    assert!(Resolver::new(&settings(Duration::from_secs(2), Duration::MAX)).is_err());
    // The system configuration (whatever /etc/resolv.conf says) builds too.
    let system = DnsSettings {
        nameservers: vec![],
        ..settings(Duration::from_secs(2), hour)
    };
    assert!(Resolver::new(&system).is_ok());
}

#[test]
fn suffix_matching() {
    assert!(has_suffix("crawl-1.googlebot.com", ".googlebot.com"));
    assert!(has_suffix("crawl-1.googlebot.com.", ".GOOGLEBOT.com"));
    assert!(has_suffix("googlebot.com", ".googlebot.com"));
    assert!(!has_suffix("crawl.notgooglebot.com", ".googlebot.com"));
    assert!(!has_suffix("crawl.notgooglebot.com", "googlebot.com"));
    assert!(!has_suffix("googlebot.com.evil.example", ".googlebot.com"));
    assert!(!has_suffix("com", ".googlebot.com"));
    assert!(!has_suffix("anything.example", ""));
    assert!(!has_suffix("anything.example", "."));
    assert!(!has_suffix("", "x"));
}

#[test]
fn resolv_conf_nameservers() {
    let text = "# generated\nsearch example.com\nnameserver 10.0.0.2\n\
                nameserver   ::1 \nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n";
    assert_eq!(
        parse_resolv_conf(text),
        vec![
            "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    assert!(parse_resolv_conf("").is_empty());
}

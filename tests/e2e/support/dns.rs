//! A throw-away dnsmasq on 127.0.0.1 serving fixed A and PTR records, for the reverse-DNS
//! (forward-confirmed) crawler tests; the gateway is pointed at it with `dns.nameservers`.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One record dnsmasq answers with.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    /// `name` has the A record `ip` (`--host-record`: dnsmasq then also answers the PTR of `ip`).
    A(&'static str, Ipv4Addr),
    /// The PTR record of `ip` (`d.c.b.a.in-addr.arpa`) names `name`; no A record comes with it.
    Ptr(Ipv4Addr, &'static str),
}

/// A running dnsmasq; killed on drop.
pub struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Dnsmasq {
    /// Starts dnsmasq on a free port of 127.0.0.1 (UDP and TCP) with only `records` (no upstream,
    /// no hosts file, no config file) and waits until it answers. Retries another port if the
    /// one picked was taken meanwhile.
    pub fn start(records: &[Record]) -> Dnsmasq {
        let bin = binary().unwrap_or_else(|| {
            panic!("dnsmasq is not installed: run `scripts/setup --harness` (Debian dnsmasq-base)")
        });
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .expect("a free UDP port")
                .port();
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--no-resolv",
                "--no-hosts",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
            ])
            .arg(format!("--port={port}"))
            .args(records.iter().map(|record| match record {
                Record::A(name, ip) => format!("--host-record={name},{ip}"),
                Record::Ptr(ip, name) => {
                    let [a, b, c, d] = ip.octets();
                    format!("--ptr-record={d}.{c}.{b}.{a}.in-addr.arpa,{name}")
                }
            }));
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            // Drained by a thread, so dnsmasq never blocks on a full pipe; read if it dies.
            let log = Arc::new(Mutex::new(String::new()));
            if let Some(mut stderr) = child.stderr.take() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stderr.read(&mut buf) {
                        log.lock()
                            .expect("log")
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                });
            }
            let mut dns = Dnsmasq { child, port };
            match dns.wait_ready() {
                Ok(()) => return dns,
                Err(status) => {
                    std::thread::sleep(Duration::from_millis(50));
                    failures.push(format!("{status}: {}", log.lock().expect("log").trim()));
                }
            }
        }
        panic!("dnsmasq did not start: {failures:?}");
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Polls with a DNS query for up to 5 s: any reply (even REFUSED) means it is serving.
    /// `Err` if dnsmasq exited; panics if it neither exits nor answers.
    fn wait_ready(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("set_read_timeout");
        // Header (id 0x5eed, RD, one question), then `ready.test. IN A`.
        let query = b"\x5e\xed\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x04test\x00\x00\x01\x00\x01";
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status})"));
            }
            if socket.send_to(query, self.addr()).is_ok()
                && matches!(socket.recv_from(&mut buf), Ok((n, _)) if n >= 12 && buf[..2] == query[..2])
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("dnsmasq did not answer on {} within 5 s", self.addr());
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dnsmasq` on PATH, else `/usr/sbin/dnsmasq` (Debian's place, often not on a user's PATH).
fn binary() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("dnsmasq"))
                .find(|p| p.is_file())
        })
        .or_else(|| Some(PathBuf::from("/usr/sbin/dnsmasq")).filter(|p| p.is_file()))
}

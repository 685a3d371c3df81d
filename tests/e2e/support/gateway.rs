//! The real `x402-gateway` binary on free loopback ports with a temporary config.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Stack;

/// A free loopback port, never handed out twice in one test run and never from the kernel's
/// ephemeral range (32768–60999 on Linux), so a port given to one test gateway is not taken in
/// the meantime by another test's outgoing connection or by a second `free_port` call.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 12_000;
    const SPAN: u16 = 20_000;
    // Each test binary starts at its own offset so two binaries running at once rarely meet.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (seed.wrapping_add(step.wrapping_mul(7))) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + SPAN)
}

/// A running gateway; killed on drop.
pub struct Gateway {
    pub port: u16,
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Gateway {
    /// The standard test config: payments to `pay_to` on Base Sepolia, origin = the stack's origin,
    /// facilitator = `facilitator`, then `routes` (TOML).
    pub fn config(stack: &Stack, facilitator: &str, pay_to: &str, routes: &str) -> String {
        let origin = stack.info.origin.trim_start_matches("http://");
        format!(
            r#"[server]
listen = ["127.0.0.1:{{PORT}}"]
threads = 2
default_origin = "origin"

[admin]
listen = "127.0.0.1:{{ADMIN}}"

[facilitator]
url = "{facilitator}"
settle_timeout_ms = 30000

[payment]
networks = ["eip155:84532"]
pay_to = "{pay_to}"

[origins.origin]
addresses = ["{origin}"]

{routes}
"#
        )
    }

    /// Starts the binary with `config` (`{PORT}` and `{ADMIN}` are filled in) and waits until it serves.
    pub async fn start(config: &str) -> Gateway {
        Gateway::start_with_env(config, &[]).await
    }

    /// As [`Gateway::start`], with extra environment variables (secrets the config names).
    pub async fn start_with_env(config: &str, env: &[(&str, &str)]) -> Gateway {
        let port = free_port();
        let admin_port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gateway.toml");
        let text = config
            .replace("{PORT}", &port.to_string())
            .replace("{ADMIN}", &admin_port.to_string());
        std::fs::write(&path, text).expect("write config");
        let child = spawn(dir.path(), env);
        let mut gw = Gateway {
            port,
            admin_port,
            dir,
            child,
        };
        gw.wait_up().await;
        gw
    }

    /// `kill -9`, then the same config again (same ports, same ledger file).
    pub async fn kill9_and_restart(&mut self, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.dir.path(), env);
        self.wait_up().await;
    }

    async fn wait_up(&mut self) {
        let healthz = self.admin("/healthz");
        let up = super::eventually(15, || {
            let url = healthz.clone();
            async move {
                reqwest::get(url)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        if !up {
            let _ = self.child.kill();
            panic!("gateway did not start:\n{}", self.log());
        }
        // the proxy listener may come up a moment after the admin one
        let proxy = format!("127.0.0.1:{}", self.port);
        for _ in 0..100 {
            if std::net::TcpStream::connect(&proxy).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a gateway on `stack` (its facilitator and origin) selling to `pay_to`, with `routes`.
    pub async fn start_with(stack: &Stack, pay_to: &str, routes: &str) -> Gateway {
        Gateway::start(&Gateway::config(
            stack,
            &stack.info.facilitator,
            pay_to,
            routes,
        ))
        .await
    }

    /// `GET /status` of the admin listener.
    pub async fn status(&self) -> serde_json::Value {
        let resp = reqwest::get(self.admin("/status")).await.expect("status");
        resp.json().await.expect("status json")
    }

    /// `GET /metrics` of the admin listener.
    pub async fn metrics(&self) -> String {
        let resp = reqwest::get(self.admin("/metrics")).await.expect("metrics");
        resp.text().await.expect("metrics text")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }

    /// Replaces the config file atomically (as editors do), keeping the same ports.
    pub fn rewrite_config(&self, config: &str) {
        let text = config
            .replace("{PORT}", &self.port.to_string())
            .replace("{ADMIN}", &self.admin_port.to_string());
        let tmp = self.dir.path().join("gateway.toml.tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, self.config_path()).expect("rename");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway process on `dir/gateway.toml`, its output appended to `dir/gateway.log`.
fn spawn(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gateway.log"))
        .expect("log");
    Command::new(env!("CARGO_BIN_EXE_x402-gateway"))
        .args(["run", "--config"])
        .arg(dir.join("gateway.toml"))
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn gateway")
}

//! Named origins: several addresses balanced round-robin, health checks that keep traffic off a
//! dead server, and the Host header policy.

use std::time::Duration;

use crate::support::gateway::free_port;
use alloy_primitives::U256;

use crate::support::{Gateway, Stack, chain, fresh_address, node, unique_prefix};

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
    assert_eq!(
        chain::balance_of(&stack.info.rpc, &stack.info.usdc, &pay_to).await,
        U256::ZERO
    );
}

/// An nginx serving https on a free port with a fresh self-signed certificate; stopped on drop.
struct TlsOrigin {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl TlsOrigin {
    /// Path of the CA that signed the origin's certificate.
    fn ca_file(&self) -> String {
        self._dir.path().join("ca.pem").display().to_string()
    }

    fn start() -> TlsOrigin {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("san.ext"),
            "subjectAltName=DNS:origin.test\n",
        )
        .expect("ext");
        // A private CA, and a certificate for origin.test that it signs.
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=x402 test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=origin.test",
                "-keyout",
                "key.pem",
                "-out",
                "server.csr",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "san.ext",
                "-out",
                "cert.pem",
            ],
        ];
        for args in steps {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl (./scripts/setup installs it)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = free_port();
        let conf = format!(
            "master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;\n\
             location / {{ default_type text/plain; return 200 \"tls-origin $request_uri\"; }} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("conf");
        let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = std::process::Command::new(nginx)
            .args([
                "-c",
                &format!("{d}/nginx.conf"),
                "-p",
                &d,
                "-g",
                "daemon off;",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (./scripts/setup installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsOrigin {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn https_origins_are_reached_over_tls_and_verified_by_default() {
    let stack = Stack::shared();
    let origin = TlsOrigin::start();
    let routes = |extra: &str| {
        format!(
            "[origins.secure]\naddresses = [\"127.0.0.1:{}\"]\ntls = true\nsni = \"origin.test\"\n{extra}\n\n[[routes]]\nname = \"secure\"\npath = \"/secure/**\"\nprice = \"free\"\norigin = \"secure\"\n",
            origin.port
        )
    };
    let get = |gw: &Gateway| {
        let url = gw.url("/secure/a?x=1");
        async move { reqwest::get(url).await.expect("get") }
    };
    // verified against the system roots (the default): a private CA's certificate is refused
    let gw = Gateway::start_with(stack, &fresh_address(), &routes("")).await;
    assert_eq!(
        get(&gw).await.status(),
        502,
        "an unverifiable origin must not be used"
    );
    drop(gw);
    // verified against the origin's own CA: served
    let with_ca = format!("ca_file = \"{}\"", origin.ca_file());
    let gw = Gateway::start_with(stack, &fresh_address(), &routes(&with_ca)).await;
    let r = get(&gw).await;
    assert_eq!(r.status(), 200, "{}", gw.log());
    assert_eq!(r.text().await.expect("body"), "tls-origin /secure/a?x=1");
    drop(gw);
    // verification turned off by the operator: served
    let gw = Gateway::start_with(stack, &fresh_address(), &routes("tls_verify = false")).await;
    assert_eq!(get(&gw).await.status(), 200, "{}", gw.log());
}

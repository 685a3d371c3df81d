//! TLS fixtures: a private CA with one server certificate (openssl CLI), and an nginx serving
//! https with it. Both live in a temporary directory that goes away on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::gateway::free_port;

/// A private CA and a server certificate it signed for `names` (subjectAltName entries such as
/// `DNS:localhost` or `IP:127.0.0.1`).
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new(names: &[&str]) -> TestCa {
        let dir = tempfile::tempdir().expect("tempdir");
        let san = format!("subjectAltName={}\n", names.join(","));
        std::fs::write(dir.path().join("san.ext"), san).expect("ext");
        let steps: [&str; 3] = [
            "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=x402-test-CA -keyout ca.key -out ca.pem",
            "req -newkey rsa:2048 -nodes -subj /CN=x402-test-server -keyout key.pem -out server.csr",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out cert.pem",
        ];
        for step in steps {
            let out = Command::new("openssl")
                .args(step.split(' '))
                .current_dir(dir.path())
                .output()
                .expect("openssl (./scripts/setup installs it)");
            assert!(
                out.status.success(),
                "openssl {step}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        TestCa { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The server certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.path("cert.pem")
    }

    /// The server key (PEM).
    pub fn key(&self) -> PathBuf {
        self.path("key.pem")
    }
}

/// An nginx answering https on a free port with a certificate for `origin.test` from a private CA,
/// echoing the request URI. One process (`master_process off`), so killing it leaves nothing behind.
pub struct TlsOrigin {
    pub port: u16,
    pub ca: TestCa,
    child: Child,
}

impl TlsOrigin {
    pub fn start() -> TlsOrigin {
        let ca = TestCa::new(&["DNS:origin.test"]);
        let d = ca.dir.path().display().to_string();
        let port = free_port();
        let conf = format!(
            "master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;\n\
             location / {{ default_type text/plain; return 200 \"tls-origin $request_uri\"; }} }} }}\n"
        );
        std::fs::write(ca.path("nginx.conf"), conf).expect("conf");
        let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(nginx)
            .args([
                "-c",
                &format!("{d}/nginx.conf"),
                "-p",
                &d,
                "-g",
                "daemon off;",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (./scripts/setup installs it)");
        wait_for_port(port);
        TlsOrigin { port, ca, child }
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 2 s for something to listen on a loopback port.
pub fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

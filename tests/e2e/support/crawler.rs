//! Web Bot Auth test crawlers for the toll booth: a key directory server on 127.0.0.1 (a JWKS of
//! the crawler keys, each key signing the response as toll-booth.md §1.6) and a Rust crawler that
//! signs requests with the gateway's own `toll::signature::sign`, so the signing base is the one the
//! gateway verifies. The server runs on its own thread with its own runtime and stops when dropped.

// A toolbox: not every e2e test uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;
use x402_gateway::toll::directory::{DIRECTORY_MEDIA_TYPE, sign_directory};
use x402_gateway::toll::signature::{self, DIRECTORY_PATH, Message, SignParams};

/// The directory self-signatures' validity: long past to far future, whatever the gateway's clock.
const SIGNED_AT: u64 = 1_700_000_000;
const SIGNED_UNTIL: u64 = 4_889_289_600;

/// The RFC 9421 Appendix B.1.4 test key (`keyid` = `signature::TEST_KEYID`).
pub fn rfc_test_key() -> SigningKey {
    let d = URL_SAFE_NO_PAD
        .decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
        .expect("test key");
    SigningKey::from_bytes(&d.try_into().expect("32 bytes"))
}

/// Serves `GET /.well-known/http-message-signatures-directory` (anything else: 404).
pub struct DirectoryServer {
    addr: SocketAddr,
    fetches: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DirectoryServer {
    /// A directory of `keys`, each key signing the response for the request's `Host`.
    pub fn start(keys: &[SigningKey]) -> DirectoryServer {
        DirectoryServer::start_with(keys, true)
    }

    /// The same directory without self-signatures (a gateway requiring them must refuse it).
    pub fn start_unsigned(keys: &[SigningKey]) -> DirectoryServer {
        DirectoryServer::start_with(keys, false)
    }

    fn start_with(keys: &[SigningKey], self_signed: bool) -> DirectoryServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind directory server");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let fetches = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel::<()>();
        let site = Arc::new(Site {
            keys: keys.to_vec(),
            body: jwks(keys),
            self_signed,
            fallback_host: addr.to_string(),
            fetches: fetches.clone(),
        });
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("directory server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(site.clone().answer(stream));
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    () = accept => {}
                }
            });
        });
        DirectoryServer {
            addr,
            fetches,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`: the signature agent (its directory is at the well-known path).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many directory requests were served.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for DirectoryServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Site {
    keys: Vec<SigningKey>,
    body: String,
    self_signed: bool,
    fallback_host: String,
    fetches: Arc<AtomicUsize>,
}

impl Site {
    async fn answer(self: Arc<Self>, mut stream: tokio::net::TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.len() > 64 * 1024 {
                return;
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut request_line = head.lines().next().unwrap_or("").split(' ');
        let (method, target) = (request_line.next(), request_line.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let host = head
            .lines()
            .skip(1)
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("host")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| self.fallback_host.clone());
        let response = if matches!(method, Some("GET")) && path == DIRECTORY_PATH {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.directory(&host)
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        };
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    }

    fn directory(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {DIRECTORY_MEDIA_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.body.len()
        );
        if self.self_signed && !self.keys.is_empty() {
            let sigs: Vec<_> = self
                .keys
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    let label = format!("binding{i}");
                    sign_directory(
                        self.body.as_bytes(),
                        host,
                        &label,
                        SIGNED_AT,
                        SIGNED_UNTIL,
                        key,
                    )
                    .expect("sign directory")
                })
                .collect();
            let inputs: Vec<&str> = sigs.iter().map(|s| s.signature_input.as_str()).collect();
            let values: Vec<&str> = sigs.iter().map(|s| s.signature.as_str()).collect();
            head.push_str(&format!(
                "Content-Digest: {}\r\nSignature-Input: {}\r\nSignature: {}\r\n",
                sigs[0].content_digest,
                inputs.join(", "),
                values.join(", ")
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

/// `{"keys":[…]}` with each key's thumbprint as `kid`.
fn jwks(keys: &[SigningKey]) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|key| {
            let public = key.verifying_key().to_bytes();
            format!(
                r#"{{"kty":"OKP","crv":"Ed25519","kid":"{}","x":"{}","use":"sig"}}"#,
                signature::thumbprint(&public),
                URL_SAFE_NO_PAD.encode(public)
            )
        })
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

/// A crawler with one Ed25519 key and a signature agent URL.
pub struct RustCrawler {
    key: SigningKey,
    agent: String,
    legacy: bool,
}

impl RustCrawler {
    /// Sends `Signature-Agent: agent1="<agent>"` and covers `"signature-agent";key="agent1"`.
    pub fn new(key: SigningKey, agent: impl Into<String>) -> RustCrawler {
        RustCrawler {
            key,
            agent: agent.into(),
            legacy: false,
        }
    }

    /// The same crawler with the legacy form: `Signature-Agent: "<agent>"`, plain `signature-agent`.
    pub fn legacy(mut self) -> RustCrawler {
        self.legacy = true;
        self
    }

    /// The key's JWK thumbprint, the `keyid` the crawler signs with.
    pub fn keyid(&self) -> String {
        signature::thumbprint(&self.key.verifying_key().to_bytes())
    }

    /// `Signature-Agent`, the `extra_headers`, `Signature-Input` and `Signature` (label `sig1`) for
    /// `method url`, covering `components` (include `"signature-agent"` and `"@authority"`).
    #[allow(clippy::too_many_arguments)]
    pub fn signed_headers(
        &self,
        method: &str,
        url: &str,
        extra_headers: &[(&str, &str)],
        components: &[&str],
        created: u64,
        expires: u64,
        nonce: Option<&str>,
    ) -> Vec<(String, String)> {
        let uri: http::Uri = url.parse().expect("request URL");
        let agent = if self.legacy {
            format!("\"{}\"", self.agent)
        } else {
            format!("agent1=\"{}\"", self.agent)
        };
        let mut out = vec![("Signature-Agent".to_owned(), agent)];
        out.extend(
            extra_headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        let headers = header_map(&out);
        let msg = Message {
            method,
            scheme: uri.scheme_str().expect("absolute URL"),
            authority: uri.authority().expect("URL authority").as_str(),
            path_and_query: uri.path_and_query().map_or("/", |pq| pq.as_str()),
            headers: &headers,
        };
        let params = SignParams {
            created,
            expires,
            nonce: nonce.map(str::to_owned),
            keyid: self.keyid(),
            agent_key: (!self.legacy).then(|| "agent1".to_owned()),
        };
        let (input, sig) =
            signature::sign(&msg, "sig1", components, &params, &self.key).expect("sign request");
        out.push(("Signature-Input".to_owned(), input));
        out.push(("Signature".to_owned(), sig));
        out
    }
}

/// Header name/value pairs as a `HeaderMap` (repeated names appended, in order).
pub fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    headers
}

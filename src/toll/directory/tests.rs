//! Directories served from a hand-written HTTP/1.1 server on 127.0.0.1: caching (`tests/cache.rs`),
//! refusals and SSRF limits (`tests/fetch.rs`); the §1.6 self-signature vector and the pure pieces
//! (TTL, address classes) in `tests/pure.rs`. This file holds the server and fixtures.

use std::sync::atomic::AtomicUsize;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::toll::signature::{TEST_KEYID, thumbprint};

mod cache;
mod fetch;
mod pure;

const NOW: u64 = 1_800_000_000;
const WELL_KNOWN: &str = "/.well-known/http-message-signatures-directory";

fn test_key() -> SigningKey {
    let d = URL_SAFE_NO_PAD
        .decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
        .expect("d");
    SigningKey::from_bytes(&d.try_into().expect("32"))
}

fn other_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn keyid(key: &SigningKey) -> String {
    thumbprint(&key.verifying_key().to_bytes())
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(2),
        max_bytes: 4096,
        max_keys: 4,
        negative_ttl: Duration::from_secs(300),
        default_ttl: Duration::from_secs(3600),
        max_ttl: Duration::from_secs(86_400),
        allow_http: true,
        allow_private_ips: true,
        require_self_signature: true,
    }
}

fn jwk(key: &SigningKey, extra: &str) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
    format!(
        r#"{{"kty":"OKP","crv":"Ed25519","kid":"{}","x":"{x}","use":"sig"{extra}}}"#,
        keyid(key)
    )
}

fn jwks(keys: &[&SigningKey]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| jwk(k, "")).collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8], length: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if length {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A 200 with the directory media type, each of `signers` signing `body` for the request's Host.
fn signed(host: &str, body: &str, signers: &[&SigningKey], extra: &[(&str, String)]) -> Vec<u8> {
    let mut headers = vec![("Content-Type", DIRECTORY_MEDIA_TYPE.to_owned())];
    let sigs: Vec<DirectorySignature> = signers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            sign_directory(
                body.as_bytes(),
                host,
                &format!("binding{i}"),
                NOW - 100,
                NOW + 86_400,
                k,
            )
            .expect("signs")
        })
        .collect();
    if let Some(first) = sigs.first() {
        headers.push(("Content-Digest", first.content_digest.clone()));
        let join = |f: fn(&DirectorySignature) -> &String| {
            sigs.iter().map(f).cloned().collect::<Vec<_>>().join(", ")
        };
        headers.push(("Signature-Input", join(|s| &s.signature_input)));
        headers.push(("Signature", join(|s| &s.signature)));
    }
    headers.extend(extra.iter().cloned());
    response("200 OK", &headers, body.as_bytes(), true)
}

/// Serves every connection with `respond(hit number, request head, Host)` after `delay`.
async fn serve<F>(delay: Duration, respond: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(usize, &str, &str) -> Vec<u8> + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let (respond, counter) = (Arc::new(respond), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (respond, counter) = (respond.clone(), counter.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let host = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("host: ")
                            .or_else(|| l.strip_prefix("Host: "))
                    })
                    .unwrap_or("")
                    .to_owned();
                let n = counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(&respond(n, &head, &host)).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), hits)
}

/// A server answering every request with the test key's signed directory.
async fn good_server() -> (String, Arc<AtomicUsize>) {
    serve(Duration::ZERO, |_, _, host| {
        let (a, b) = (test_key(), other_key(7));
        signed(host, &jwks(&[&a, &b]), &[&a, &b], &[])
    })
    .await
}

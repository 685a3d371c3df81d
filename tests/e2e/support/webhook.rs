//! A webhook receiver on loopback for the tabs' batches: answers the deliveries of each batch
//! (each `Idempotency-Key`) with the statuses of its script in turn (200 once the script runs
//! out) and records every delivery it saw.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One POST the receiver saw.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// What the receiver answered.
    pub answered: u16,
    pub idempotency_key: String,
    pub signature: String,
    /// `X402-Webhook-Attempt`.
    pub attempt: String,
    pub body: Vec<u8>,
}

/// The receiver; stops on drop.
pub struct WebhookReceiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Delivery>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    /// Answers each batch's first deliveries with `script`, then 200.
    pub fn start(script: &[u16]) -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook receiver");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script = script.to_vec();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let status = |key: &str| {
                    let seen = seen2.lock().expect("lock");
                    let n = seen
                        .iter()
                        .filter(|d: &&Delivery| d.idempotency_key == key)
                        .count();
                    script.get(n).copied().unwrap_or(200)
                };
                if let Some(delivery) = answer(stream, status) {
                    seen2.lock().expect("lock").push(delivery);
                }
            }
        });
        WebhookReceiver {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (head and `Content-Length` body) and answers what `status` says for its key.
fn answer(stream: TcpStream, status: impl Fn(&str) -> u16) -> Option<Delivery> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST ") {
        return None;
    }
    let (mut length, mut key, mut signature) = (0usize, String::new(), String::new());
    let mut attempt = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "idempotency-key" => key = value,
            "x402-webhook-signature" => signature = value,
            "x402-webhook-attempt" => attempt = value,
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let status = status(&key);
    let mut out = stream;
    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    out.write_all(reply.as_bytes()).ok()?;
    Some(Delivery {
        answered: status,
        idempotency_key: key,
        signature,
        attempt,
        body,
    })
}

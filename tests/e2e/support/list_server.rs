//! A loopback HTTP server answering every GET with the document (and status) the test sets
//! now: a crawler's published IP list that changes, or fails, under a running gateway.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The server; stops on drop.
pub struct ListServer {
    addr: SocketAddr,
    doc: Arc<Mutex<(u16, String)>>,
    fetches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ListServer {
    pub fn start(body: &str) -> ListServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind list server");
        let addr = listener.local_addr().expect("addr");
        let doc = Arc::new(Mutex::new((200, body.to_string())));
        let fetches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (doc2, fetches2, stop2) = (doc.clone(), fetches.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (status, body) = doc2.lock().expect("lock").clone();
                if serve(stream, status, &body).is_some() {
                    fetches2.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        ListServer {
            addr,
            doc,
            fetches,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers `status` with `body` from now on.
    pub fn set(&self, status: u16, body: &str) {
        *self.doc.lock().expect("lock") = (status, body.to_string());
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for ListServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, status: u16, body: &str) -> Option<()> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("GET ") {
        return None;
    }
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line.trim_end().is_empty() {
            break;
        }
    }
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes()).ok()?;
    out.write_all(body.as_bytes()).ok()
}

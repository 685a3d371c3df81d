//! A deliberately lenient origin: it reads requests the way permissive real servers do and records
//! what each request would MEAN to such a server, so a test can check that the gateway never lets
//! through, for free, a request the origin would take to name priced content.
//!
//! It parses without a strict parser (the head split on line breaks, the request line on spaces,
//! headers on the first `:`), answers everything `200 OK` with `Connection: close`, and interprets
//! each request under one [`Profile`]. It runs on its own thread with its own runtime, so it does not
//! depend on the test's runtime, and stops when dropped.
//!
//! The price table the interpretation knows is the one of `canonical_view.rs`: `GET`/`HEAD` of
//! `/paid` or `/paid/…` is priced, and so is anything on the virtual host `paid.test`.
//!
//! Also here, because both the canonical-view and the connection tests use them: a gateway config
//! that needs no chain and no facilitator, and a raw HTTP/1.1 client connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a lenient server family reads a request (in the respects that matter for pricing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Express: method compared case-insensitively, path matched case-insensitively,
    /// `X-HTTP-Method-Override` honoured (method-override middleware).
    Express,
    /// Tomcat: `;params` stripped from every path segment, then `.`/`..` resolved.
    Tomcat,
    /// IIS: case-insensitive path, trailing dots and spaces stripped from segments, `\` is `/`,
    /// `X-Original-URL` / `X-Rewrite-URL` replace the path.
    Iis,
    /// CGI: header names become variables by upper-casing and `-` → `_`, so `X402_Payer` and
    /// `X402-Payer` are the same variable `HTTP_X402_PAYER`.
    Cgi,
}

pub const ALL_PROFILES: [Profile; 4] = [
    Profile::Express,
    Profile::Tomcat,
    Profile::Iis,
    Profile::Cgi,
];

/// The virtual host a request without `Host` is served by: the priced one (worst case).
pub const DEFAULT_VHOST: &str = "paid.test";

/// Headers only the gateway may set (on paid requests).
pub const GATEWAY_HEADERS: [&str; 5] = [
    "x402-payer",
    "x402-amount",
    "x402-asset",
    "x402-network",
    "x402-version",
];

/// What one request meant to the origin.
#[derive(Debug, Clone)]
pub struct Record {
    pub profile: Profile,
    /// The request line exactly as received.
    pub request_line: String,
    pub method: String,
    /// Lower-case, without port and trailing dot.
    pub host: String,
    pub path: String,
    /// The effective request names a priced resource of the test's price table.
    pub priced: bool,
    /// The value of `x402-payer` (that exact name, any case), if present.
    pub payer_header: Option<String>,
    /// A header this profile reads as one of [`GATEWAY_HEADERS`] arrived (every request of these
    /// tests is unpaid, so any such header was forged by the client).
    pub spoofed_gateway_header: bool,
    /// Every header as received (name, value).
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// Whether a header of this name (ASCII case-insensitive, exact otherwise) arrived.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

impl Profile {
    /// Header names are matched after `_` → `-` (server variables, as CGI and IIS do).
    fn folds_underscores(self) -> bool {
        matches!(self, Profile::Cgi | Profile::Iis)
    }

    fn header_is(self, sent: &str, wanted: &str) -> bool {
        if self.folds_underscores() {
            sent.replace('_', "-").eq_ignore_ascii_case(wanted)
        } else {
            sent.eq_ignore_ascii_case(wanted)
        }
    }
}

/// Interprets one request head (request line and headers, without the blank line) under `profile`.
pub fn interpret(profile: Profile, head: &str) -> Record {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.trim().to_string(), v.trim().to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect();
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(n, _)| profile.header_is(n, wanted))
            .map(|(_, v)| v.as_str())
    };

    let mut parts = request_line.split(' ').filter(|p| !p.is_empty());
    let raw_method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");

    let mut method = match profile {
        Profile::Express | Profile::Tomcat => raw_method.to_ascii_uppercase(),
        Profile::Iis | Profile::Cgi => raw_method.to_string(),
    };
    if profile == Profile::Express
        && let Some(m) = [
            "x-http-method-override",
            "x-http-method",
            "x-method-override",
        ]
        .iter()
        .find_map(|h| header(h))
    {
        method = m.to_ascii_uppercase();
    }

    // absolute-form: host and path from the target; else Host, else the default virtual host
    let (target_host, mut raw_path) = split_absolute(target);
    let host = target_host
        .or_else(|| header("host").filter(|h| !h.is_empty()))
        .map_or_else(|| DEFAULT_VHOST.to_string(), normalize_host);
    if profile == Profile::Iis
        && let Some(url) = header("x-original-url").or_else(|| header("x-rewrite-url"))
    {
        raw_path = url;
    }
    let path = effective_path(profile, raw_path);

    let priced = ((method == "GET" || method == "HEAD")
        && (path == "/paid" || path.starts_with("/paid/")))
        || host == "paid.test";
    let payer_header = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x402-payer"))
        .map(|(_, v)| v.clone());
    let spoofed_gateway_header = headers
        .iter()
        .any(|(n, _)| GATEWAY_HEADERS.iter().any(|g| profile.header_is(n, g)));
    Record {
        profile,
        request_line,
        method,
        host,
        path,
        priced,
        payer_header,
        spoofed_gateway_header,
        headers,
    }
}

/// `http://host/path` → (Some(host), "/path"); an origin-form target → (None, target).
fn split_absolute(target: &str) -> (Option<&str>, &str) {
    let lower = target.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return (None, target);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = &rest[end..];
    (Some(authority), if path.is_empty() { "/" } else { path })
}

/// Lower-case, without port and trailing dot.
fn normalize_host(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("").to_string()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            _ => host.clone(),
        }
    };
    name.trim_end_matches('.').to_string()
}

/// Full percent-decoding (`%2F` included); malformed escapes stay literal.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16);
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path the profile serves: query stripped, fully decoded, profile rules applied, dot segments
/// resolved, empty segments merged (a `#` is kept literally: the worst case).
pub fn effective_path(profile: Profile, raw: &str) -> String {
    let raw = raw.split('?').next().unwrap_or("");
    let mut decoded = percent_decode(raw);
    if profile == Profile::Iis {
        decoded = decoded.replace('\\', "/");
    }
    let trailing_slash = decoded.ends_with('/');
    let mut out: Vec<String> = Vec::new();
    for seg in decoded.split('/') {
        let seg = match profile {
            Profile::Tomcat => seg.split(';').next().unwrap_or(""),
            _ => seg,
        };
        let seg = match profile {
            Profile::Iis => iis_segment(seg),
            _ => seg,
        };
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_string()),
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if trailing_slash && path != "/" {
        path.push('/');
    }
    if matches!(profile, Profile::Express | Profile::Iis) {
        path = path.to_lowercase();
    }
    path
}

/// IIS/Windows: trailing dots and spaces do not count; a segment of dots only is `.` or `..`.
fn iis_segment(seg: &str) -> &str {
    let trimmed = seg.trim_end_matches(['.', ' ']);
    if !trimmed.is_empty() {
        return trimmed;
    }
    match seg.matches('.').count() {
        0 => "",
        1 => ".",
        _ => "..",
    }
}

/// A running lenient origin.
pub struct LenientOrigin {
    pub port: u16,
    pub profile: Profile,
    records: Arc<Mutex<Vec<Record>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LenientOrigin {
    /// Listens on 127.0.0.1 (a free port) on its own thread and runtime.
    pub fn start(profile: Profile) -> LenientOrigin {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind lenient origin");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let records = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let log = records.clone();
        std::thread::Builder::new()
            .name(format!("lenient-origin-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("origin runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            let log = log.clone();
                            tokio::spawn(async move {
                                let _ = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    serve(stream, profile, log),
                                )
                                .await;
                            });
                        }
                    };
                    tokio::select! {
                        () = accept => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("origin thread");
        LenientOrigin {
            port,
            profile,
            records,
            stop: Some(stop),
        }
    }

    /// Everything received so far, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records").clone()
    }

    pub fn count(&self) -> usize {
        self.records.lock().expect("records").len()
    }
}

impl Drop for LenientOrigin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request per connection: read the head (and a body, if announced), record, answer, close.
async fn serve(
    mut stream: tokio::net::TcpStream,
    profile: Profile,
    log: Arc<Mutex<Vec<Record>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break (i, i + 4);
        }
        if let Some(i) = find(&buf, b"\n\n") {
            break (i, i + 2);
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end.0]).into_owned();
    let record = interpret(profile, &head);

    // Read an announced body, so closing does not reset the connection under unread data.
    let mut body = buf[head_end.1..].to_vec();
    let content_length = record
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let chunked = record.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let done = match content_length {
                Some(len) if !chunked => body.len() >= len,
                _ if chunked => find(&body, b"0\r\n\r\n").is_some(),
                _ => true,
            };
            if done {
                break;
            }
            match stream.read(&mut chunk).await {
                Ok(n) if n > 0 => body.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
    })
    .await;

    let is_head = record
        .request_line
        .split(' ')
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("HEAD"));
    log.lock().expect("records").push(record);
    let text = "lenient origin\n";
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    if !is_head {
        resp.push_str(text);
    }
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}

/// A gateway config in front of the origin on `origin_port` that needs no chain and no facilitator
/// (the facilitator URL is a free port nobody listens on: every request these tests send is unpaid).
/// `server_extra` is appended to `[server]`; `routes` is TOML.
pub fn gateway_config(origin_port: u16, server_extra: &str, routes: &str) -> String {
    let facilitator = super::gateway::free_port();
    format!(
        r#"[server]
listen = ["127.0.0.1:{{PORT}}"]
threads = 2
default_origin = "origin"
{server_extra}

[admin]
listen = "127.0.0.1:{{ADMIN}}"

[facilitator]
url = "http://127.0.0.1:{facilitator}"

[payment]
networks = ["eip155:84532"]
pay_to = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

[origins.origin]
addresses = ["127.0.0.1:{origin_port}"]

{routes}
"#
    )
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` field of a JSON error body.
    pub fn error_code(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("error")?
            .as_str()
            .map(str::to_string)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A raw HTTP/1.1 client connection to 127.0.0.1 that can read one framed response after another.
pub struct RawConn {
    pub stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

/// What reading from a connection found.
#[derive(Debug)]
pub enum ReadOutcome {
    Response(RawResponse),
    /// The peer closed (EOF or an error such as a reset) before a whole response arrived.
    Closed,
    TimedOut,
}

impl RawConn {
    pub async fn connect(port: u16) -> RawConn {
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes bytes; false if the peer has gone.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.write_all(bytes)).await,
            Ok(Ok(()))
        )
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (framed by Content-Length, chunked or close), within `within`.
    /// `head_request`: the response has no body.
    pub async fn read_response(&mut self, within: Duration, head_request: bool) -> ReadOutcome {
        match tokio::time::timeout(within, self.read_response_inner(head_request)).await {
            Ok(Some(r)) => ReadOutcome::Response(r),
            Ok(None) => ReadOutcome::Closed,
            Err(_) => ReadOutcome::TimedOut,
        }
    }

    async fn read_response_inner(&mut self, head_request: bool) -> Option<RawResponse> {
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_len]).into_owned();
        self.buf.drain(..head_len + 4);
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok())?;
        let mut resp = RawResponse {
            status,
            head,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
            return Some(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    if !matches!(self.fill().await, Ok(n) if n > 0) {
                        return None;
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                self.buf.drain(..line_end + 2);
                if size == 0 {
                    // trailers until the blank line
                    loop {
                        if let Some(i) = find(&self.buf, b"\r\n") {
                            let blank = i == 0;
                            self.buf.drain(..i + 2);
                            if blank {
                                return Some(resp);
                            }
                            continue;
                        }
                        if !matches!(self.fill().await, Ok(n) if n > 0) {
                            return Some(resp);
                        }
                    }
                }
                while self.buf.len() < size + 2 {
                    if !matches!(self.fill().await, Ok(n) if n > 0) {
                        return None;
                    }
                }
                resp.body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
            }
        }
        if let Some(len) = resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            while self.buf.len() < len {
                if !matches!(self.fill().await, Ok(n) if n > 0) {
                    return None;
                }
            }
            resp.body = self.buf.drain(..len).collect();
            return Some(resp);
        }
        // close-delimited
        while matches!(self.fill().await, Ok(n) if n > 0) {}
        resp.body = std::mem::take(&mut self.buf);
        Some(resp)
    }

    /// Waits until the peer closes the connection (EOF or an error such as a reset); false on
    /// timeout. Bytes that arrive meanwhile (say, a 408 before the close) are ignored.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while matches!(self.fill().await, Ok(n) if n > 0) {}
        })
        .await
        .is_ok()
    }
}

/// Sends `request` (exact bytes) on a new connection and reads one response.
pub async fn exchange(port: u16, request: &[u8]) -> ReadOutcome {
    let mut conn = RawConn::connect(port).await;
    // The gateway may answer and close before reading everything: read what came regardless.
    let _ = conn.send(request).await;
    let head = request
        .split(|b| *b == b' ')
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case(b"HEAD"));
    conn.read_response(Duration::from_secs(10), head).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(profile: Profile, head: &str) -> Record {
        interpret(profile, head)
    }

    #[test]
    fn express_folds_method_and_path_case_and_honours_method_override() {
        let r = rec(Profile::Express, "get /PAID/x?q=1 HTTP/1.1\r\nHost: a.test");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/paid/x"));
        assert!(r.priced);
        let r = rec(
            Profile::Express,
            "POST /paid/x HTTP/1.1\r\nHost: a.test\r\nX-HTTP-Method-Override: get",
        );
        assert_eq!(r.method, "GET");
        assert!(r.priced);
        let r = rec(Profile::Express, "POST /paid/x HTTP/1.1\r\nHost: a.test");
        assert!(!r.priced, "{r:?}");
        // express does not fold underscores
        let r = rec(
            Profile::Express,
            "GET /free HTTP/1.1\r\nHost: a\r\nX402_Payer: 0xabc",
        );
        assert!(!r.spoofed_gateway_header && r.payer_header.is_none());
    }

    #[test]
    fn tomcat_strips_path_parameters_before_resolving_dots() {
        assert_eq!(effective_path(Profile::Tomcat, "/a;jsessionid=1/b"), "/a/b");
        let r = rec(Profile::Tomcat, "get /free/..;/paid/x HTTP/1.1\r\nHost: a");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/paid/x"));
        assert!(r.priced);
        assert_eq!(effective_path(Profile::Tomcat, "/;x/paid/x;v=1"), "/paid/x");
        // Tomcat is case-sensitive
        assert!(!rec(Profile::Tomcat, "GET /PAID/x HTTP/1.1\r\nHost: a").priced);
    }

    #[test]
    fn iis_folds_case_trims_dots_and_spaces_and_honours_rewrite_headers() {
        assert_eq!(effective_path(Profile::Iis, "/PAID./x"), "/paid/x");
        assert_eq!(effective_path(Profile::Iis, "/paid%20/x"), "/paid/x");
        assert_eq!(effective_path(Profile::Iis, "/paid.%20/x"), "/paid/x");
        assert_eq!(effective_path(Profile::Iis, "/paid%2e/x"), "/paid/x");
        assert_eq!(effective_path(Profile::Iis, "/free/.../paid"), "/paid");
        assert_eq!(
            effective_path(Profile::Iis, "/free\\..\\paid\\x"),
            "/paid/x"
        );
        for h in [
            "X-Original-URL",
            "x-rewrite-url",
            "X_Original_URL",
            "X_REWRITE_URL",
        ] {
            let r = rec(
                Profile::Iis,
                &format!("GET /free/x HTTP/1.1\r\nHost: a\r\n{h}: /paid/x?y=1"),
            );
            assert_eq!(r.path, "/paid/x", "{h}");
            assert!(r.priced, "{h}");
        }
        let r = rec(Profile::Iis, "GET /free/x HTTP/1.1\r\nHost: a");
        assert_eq!(r.path, "/free/x");
        assert!(!r.priced);
        // the rewrite headers are IIS's, not Express's
        let r = rec(
            Profile::Express,
            "GET /free/x HTTP/1.1\r\nHost: a\r\nX-Original-URL: /paid/x",
        );
        assert!(!r.priced);
    }

    #[test]
    fn cgi_folds_underscores_in_header_names() {
        for h in ["X402_Payer", "X402-PAYER", "x402_amount", "X402_VERSION"] {
            let r = rec(
                Profile::Cgi,
                &format!("GET /free/x HTTP/1.1\r\nHost: a\r\n{h}: 0xabc"),
            );
            assert!(r.spoofed_gateway_header, "{h}");
        }
        let r = rec(
            Profile::Cgi,
            "GET /free/x HTTP/1.1\r\nHost: a\r\nX402_Payer: 0xabc",
        );
        assert_eq!(r.payer_header, None, "not the exact name");
        let r = rec(
            Profile::Cgi,
            "GET /free/x HTTP/1.1\r\nHost: a\r\nx402-payer: 0xabc",
        );
        assert_eq!(r.payer_header.as_deref(), Some("0xabc"));
        let r = rec(
            Profile::Cgi,
            "GET /free/x HTTP/1.1\r\nHost: a\r\nX-Other: 1",
        );
        assert!(!r.spoofed_gateway_header && r.payer_header.is_none());
        // CGI keeps the method as sent
        assert_eq!(
            rec(Profile::Cgi, "get /paid/x HTTP/1.1\r\nHost: a").method,
            "get"
        );
    }

    #[test]
    fn every_profile_decodes_fully_resolves_dots_and_picks_the_virtual_host() {
        for p in ALL_PROFILES {
            let r = rec(p, "GET /free%2f..%2fpaid/x HTTP/1.1\r\nHost: a");
            assert_eq!(r.path, "/paid/x", "{p:?}");
            assert!(r.priced, "{p:?}");
            assert!(rec(p, "GET /free/..%2fpaid/x HTTP/1.1\r\nHost: a").priced);
            assert!(rec(p, "GET /%70aid/x HTTP/1.1\r\nHost: a").priced);
            assert!(rec(p, "GET /free/%2e%2e/paid/x HTTP/1.1\r\nHost: a").priced);
            assert!(rec(p, "GET //paid/x HTTP/1.1\r\nHost: a").priced);
            assert!(rec(p, "HEAD /paid HTTP/1.1\r\nHost: a").priced);
            assert!(rec(p, "GET /paid/ HTTP/1.1\r\nHost: a").priced);
            assert!(!rec(p, "GET /paidx HTTP/1.1\r\nHost: a").priced);
            assert!(!rec(p, "GET /free/x HTTP/1.1\r\nHost: a").priced);
            assert!(!rec(p, "POST /paid/x HTTP/1.1\r\nHost: a").priced);
            assert!(!rec(p, "PURGE /paid/x HTTP/1.1\r\nHost: a").priced);
            // '#' is kept literally: the worst case
            assert!(rec(p, "GET /free/x#/../../paid/x HTTP/1.1\r\nHost: a").priced);

            // hosts
            let r = rec(p, "GET /free HTTP/1.0");
            assert_eq!(r.host, "paid.test", "no Host: the default virtual host");
            assert!(r.priced);
            for host in ["PAID.TEST", "paid.test.", "paid.test:80", "Paid.Test.:8080"] {
                let r = rec(p, &format!("POST /free HTTP/1.1\r\nHost: {host}"));
                assert_eq!(r.host, "paid.test", "{host}");
                assert!(r.priced, "{host}");
            }
            let r = rec(p, "GET http://paid.test/free HTTP/1.1\r\nHost: other.test");
            assert_eq!((r.host.as_str(), r.path.as_str()), ("paid.test", "/free"));
            assert!(r.priced);
            let r = rec(p, "GET HTTP://u@Paid.Test:80 HTTP/1.1\r\nHost: other.test");
            assert_eq!((r.host.as_str(), r.path.as_str()), ("paid.test", "/"));
            let r = rec(p, "GET /free HTTP/1.1\r\nHost: other.test");
            assert_eq!(r.host, "other.test");
            assert!(!r.priced);
        }
    }

    #[test]
    fn normalize_host_handles_ports_brackets_and_dots() {
        assert_eq!(normalize_host("PAID.TEST.:80"), "paid.test");
        assert_eq!(normalize_host("[::1]:8080"), "::1");
        assert_eq!(normalize_host("a.test"), "a.test");
        assert_eq!(percent_decode("%2F%2f%zz%4"), "//%zz%4");
    }
}

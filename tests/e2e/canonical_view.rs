//! The gateway and the origin must agree on what a request names: every spelling a lenient origin
//! could read as priced content is either priced by the gateway (402) or refused (400), and what the
//! gateway forwards free never means priced content to the origin.
//!
//! One table of raw requests, sent to one gateway per [`Profile`] of the lenient origin (Express,
//! Tomcat, IIS, CGI readings of the same bytes). No chain, no facilitator: everything is unpaid.

use std::time::Duration;

use crate::support::Gateway;
use crate::support::lenient_origin::{
    LenientOrigin, Profile, ReadOutcome, Record, exchange, gateway_config,
};

/// Priced: `GET`/`HEAD` of `/paid/**`, and anything on the virtual host `paid.test`; the rest free.
const ROUTES: &str = r#"[[routes]]
name = "paid"
methods = ["GET"]
path = "/paid/**"
price = "$0.001"

[[routes]]
name = "vhost"
host = "paid.test"
path = "/**"
price = "$0.001"

[[routes]]
name = "free"
path = "/**"
price = "free"
"#;

/// One request of the table and what the gateway must answer.
struct Row {
    /// The request as sent, `Connection: close` included.
    request: String,
    status: u16,
    /// The JSON `error` code of a 4xx the gateway answers itself.
    error: Option<&'static str>,
    /// Headers the origin must not receive (for forwarded rows).
    absent: &'static [&'static str],
}

impl Row {
    fn error(mut self, code: &'static str) -> Row {
        self.error = Some(code);
        self
    }

    fn absent(mut self, headers: &'static [&'static str]) -> Row {
        self.absent = headers;
        self
    }

    /// The request line as sent, for messages.
    fn line(&self) -> &str {
        self.request.lines().next().unwrap_or("")
    }
}

/// `request_line` with `headers`, plus `Host: app.test` unless `headers` has a Host.
fn row(request_line: &str, headers: &[&str], status: u16) -> Row {
    let mut request = format!("{request_line}\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        request.push_str("Host: app.test\r\n");
    }
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    Row {
        request,
        status,
        error: None,
        absent: &[],
    }
}

/// `request_line` exactly, with no Host header at all.
fn without_host(request_line: &str, status: u16) -> Row {
    Row {
        request: format!("{request_line}\r\nConnection: close\r\n\r\n"),
        status,
        error: None,
        absent: &[],
    }
}

fn get(target: &str, status: u16) -> Row {
    row(&format!("GET {target} HTTP/1.1"), &[], status)
}

fn table() -> Vec<Row> {
    vec![
        // methods are case-sensitive tokens: a lenient origin would upper-case them
        get("/paid/x", 402),
        row("get /paid/x HTTP/1.1", &[], 400).error("invalid_method"),
        row("GeT /paid/x HTTP/1.1", &[], 400).error("invalid_method"),
        row("get /free/x HTTP/1.1", &[], 400).error("invalid_method"),
        // literal segments match case-insensitively
        get("/PAID/x", 402),
        get("/Paid/x", 402),
        get("/pAiD", 402),
        // ;params (Tomcat strips them, then resolves dots)
        get("/paid;jsessionid=1/x", 402),
        get("/paid/x;v=1", 402),
        get("/free/..;/paid/x", 402),
        get("/;x/paid/x", 402),
        // trailing dots and spaces (IIS strips them)
        get("/paid./x", 402),
        get("/paid%2e/x", 402),
        get("/paid%20/x", 402),
        get("/paid.%20/x", 402),
        get("/free/.../paid", 400).error("ambiguous_path"),
        get("/free/%2e%2e%2e/x", 400).error("ambiguous_path"),
        // encodings
        get("/%70aid/x", 402),
        get("/free%2f..%2fpaid/x", 400),
        get("/free/..%2fpaid/x", 400),
        get("/free\\..\\paid\\x", 400),
        // a fragment is cut off by the HTTP parser: neither the gateway nor the origin sees it
        get("/free/x#/../../paid/x", 200),
        // rewrite headers never reach the origin
        row(
            "POST /paid/x HTTP/1.1",
            &["X-HTTP-Method-Override: GET", "Content-Length: 0"],
            200,
        )
        .absent(&["x-http-method-override"]),
        row("GET /free/x HTTP/1.1", &["X-Original-URL: /paid/x"], 200).absent(&["x-original-url"]),
        row("GET /free/x HTTP/1.1", &["X-Rewrite-URL: /paid/x"], 200).absent(&["x-rewrite-url"]),
        row("GET /free/x HTTP/1.1", &["X_Original_URL: /paid/x"], 200)
            .absent(&["x_original_url", "x-original-url"]),
        // gateway-set headers, spelled with underscores or in any case, are never passed on
        row("GET /free/x HTTP/1.1", &["X402_Payer: 0xabc"], 200)
            .absent(&["x402_payer", "x402-payer"]),
        row("GET /free/x HTTP/1.1", &["X402-PAYER: 0xabc"], 200)
            .absent(&["x402_payer", "x402-payer"]),
        row(
            "GET /free/x HTTP/1.1",
            &["X402_Payer: 0xabc", "X402-PAYER: 0xabc", "X402_Amount: 1"],
            200,
        )
        .absent(&["x402_payer", "x402-payer", "x402_amount", "x402-amount"]),
        // hosts: case, trailing dot, port, absolute-form, none
        row("GET /free HTTP/1.1", &["Host: PAID.TEST"], 402),
        row("GET /free HTTP/1.1", &["Host: paid.test."], 402),
        row("GET /free HTTP/1.1", &["Host: paid.test:80"], 402),
        // absolute-form: its authority names the host; a Host that disagrees is refused
        row(
            "GET http://paid.test/free HTTP/1.1",
            &["Host: paid.test"],
            402,
        ),
        row(
            "GET http://PAID.test:80/free HTTP/1.1",
            &["Host: PAID.test:80"],
            402,
        ),
        row(
            "GET http://paid.test/free HTTP/1.1",
            &["Host: other.test"],
            400,
        ),
        without_host("GET http://paid.test/free HTTP/1.0", 402),
        row(
            "GET http://other.test/free HTTP/1.1",
            &["Host: other.test"],
            200,
        ),
        without_host("GET /free HTTP/1.0", 400).error("missing_host"),
        row("GET /free HTTP/1.1", &["Host: other.test"], 200),
        // an unknown method is not GET: free, as documented
        call("PURGE", "/paid/x", 200),
        call("HEAD", "/paid/x", 402),
        get("/paid", 402),
        get("/paid/", 402),
        get("/free/x", 200),
    ]
}

fn call(method: &str, target: &str, status: u16) -> Row {
    row(&format!("{method} {target} HTTP/1.1"), &[], status)
}

/// Sends every row to a gateway in front of a `profile` origin; checks statuses, that the origin got
/// exactly the forwarded rows without the stripped headers, and that nothing it got was priced.
async fn run(profile: Profile) {
    let origin = LenientOrigin::start(profile);
    let gw = Gateway::start(&gateway_config(origin.port, "", ROUTES)).await;
    let mut failures = Vec::new();
    for row in table() {
        let before = origin.count();
        let got = exchange(gw.port, row.request.as_bytes()).await;
        let forwarded = origin.records().split_off(before);
        failures.extend(check_row(&row, got, &forwarded));
    }

    // Give a stray late forward a moment to land before the final look.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let records = origin.records();
    for r in &records {
        if r.priced {
            failures.push(format!(
                "a {:?} origin took a free request as priced: {}",
                r.profile,
                brief(r)
            ));
        }
        if r.spoofed_gateway_header {
            failures.push(format!("origin got a gateway-only header: {}", brief(r)));
        }
        if r.payer_header.is_some() {
            failures.push(format!(
                "origin got x402-payer on an unpaid request: {}",
                brief(r)
            ));
        }
    }
    let seen: Vec<String> = records.iter().map(brief).collect();
    assert!(
        failures.is_empty(),
        "{:?}: {} failures:\n{}\n--- origin records:\n{}\n--- gateway log (tail):\n{}",
        origin.profile,
        failures.len(),
        failures.join("\n"),
        seen.join("\n"),
        tail(&gw.log(), 40)
    );
}

/// What is wrong with the answer to `row`, given what the origin received meanwhile.
fn check_row(row: &Row, got: ReadOutcome, forwarded: &[Record]) -> Vec<String> {
    let line = row.line();
    let mut failures = Vec::new();
    let resp = match got {
        ReadOutcome::Response(r) => r,
        other => return vec![format!("{line:?}: no response ({other:?})")],
    };
    if resp.status != row.status {
        failures.push(format!(
            "{line:?}: status {} (expected {}) {}",
            resp.status,
            row.status,
            resp.body_text()
                .trim()
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    if let Some(code) = row.error
        && resp.error_code().as_deref() != Some(code)
    {
        failures.push(format!(
            "{line:?}: error {:?} (expected {code:?})",
            resp.error_code()
        ));
    }
    if row.status == 200 {
        // a gateway that blocked everything must not pass
        if forwarded.len() != 1 {
            failures.push(format!(
                "{line:?}: the origin received {} requests (expected 1)",
                forwarded.len()
            ));
        }
        for r in forwarded {
            for h in row.absent.iter().filter(|h| r.has_header(h)) {
                failures.push(format!("{line:?}: the origin saw {h:?}: {}", brief(r)));
            }
        }
    } else {
        for r in forwarded {
            failures.push(format!(
                "{line:?}: should be answered {} by the gateway, yet reached the origin as {}",
                row.status,
                brief(r)
            ));
        }
    }
    failures
}

/// One line per origin record.
fn brief(r: &Record) -> String {
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
    format!(
        "[{:?}] {:?} -> {} {}{} priced={} payer={:?} spoofed={} headers={names:?}",
        r.profile,
        r.request_line,
        r.method,
        r.host,
        r.path,
        r.priced,
        r.payer_header,
        r.spoofed_gateway_header
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test]
async fn express_origin_never_reads_a_forwarded_request_as_priced() {
    run(Profile::Express).await;
}

#[tokio::test]
async fn tomcat_origin_never_reads_a_forwarded_request_as_priced() {
    run(Profile::Tomcat).await;
}

#[tokio::test]
async fn iis_origin_never_reads_a_forwarded_request_as_priced() {
    run(Profile::Iis).await;
}

#[tokio::test]
async fn cgi_origin_never_reads_a_forwarded_request_as_priced() {
    run(Profile::Cgi).await;
}

//! Every response the gateway writes itself: 402 challenges, settlement failures, preflights, and
//! errors (400, 404, 431, 502, 503). The one place that maps a decision to status, headers and body.
//!
//! 402s carry both generations (spec §4.7): the v2 `PAYMENT-REQUIRED` header and the v1 JSON body;
//! `Cache-Control: no-store`, and CORS that lets browsers read the payment headers (spec §4.4, §9).

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::local::LocalBody;
use super::paywall_page;
use super::settle::SettleFailure;
use crate::x402::challenge::Challenge;
use crate::x402::reason::Rejection;
use crate::x402::settlement::SettleResponse;
use crate::x402::{PAYMENT_REQUIRED, Version};

/// Headers browsers may read from our responses.
pub const EXPOSE_HEADERS: &str =
    "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, X402-Pass";
/// Request headers a cross-origin payer may send.
pub const ALLOW_HEADERS: &str = "PAYMENT-SIGNATURE, X-PAYMENT, Access-Control-Expose-Headers, SIGN-IN-WITH-X, X402-Pass, Content-Type, Authorization";

/// A complete response the gateway writes itself.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    /// The 402 challenge for a route, with the reason the request was refused.
    pub fn challenge(challenge: &Challenge, url: &str, why: &Rejection, browser: bool) -> Self {
        let v2_error = why.reason(false);
        let mut headers = vec![(PAYMENT_REQUIRED, challenge.header_value(url, &v2_error))];
        let body = if browser {
            headers.push(("Content-Type", "text/html; charset=utf-8".into()));
            Bytes::from(paywall_page::render(challenge, url))
        } else {
            headers.push(("Content-Type", "application/json".into()));
            Bytes::from(challenge.v1_body(url, &why.reason(true)))
        };
        Self::payment(402, headers, body)
    }

    /// The 402 after a settlement failed: `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`) with
    /// `success:false`, never the origin's body.
    pub fn settlement_failed(
        challenge: &Challenge,
        url: &str,
        settle: &SettleResponse,
        version: Version,
    ) -> Self {
        let (name, value) = settle.header(version);
        let reason = settle
            .error_reason
            .clone()
            .unwrap_or_else(|| "settlement_failed".into());
        let headers = vec![
            (name, value),
            (PAYMENT_REQUIRED, challenge.header_value(url, &reason)),
            ("Content-Type", "application/json".into()),
        ];
        let body = match version {
            Version::V1 => challenge.v1_body(url, &reason),
            Version::V2 => b"{}".to_vec(),
        };
        Self::payment(402, headers, Bytes::from(body))
    }

    /// The answer instead of a delivery whose settlement did not complete: 402 when refused (the
    /// client may pay again), 503 when nothing was sent, 503 saying the payment may have been
    /// taken when the outcome is unknown (never a 402 that would invite a second payment).
    pub fn settle_failure(
        challenge: &Challenge,
        url: &str,
        failure: &SettleFailure,
        version: Version,
    ) -> Self {
        match failure {
            SettleFailure::Refused(settle) => {
                Self::settlement_failed(challenge, url, settle, version)
            }
            SettleFailure::Unavailable => Self::error(
                503,
                "facilitator_unavailable",
                "the payment could not be settled right now; nothing was charged, try again shortly",
            ),
            SettleFailure::Unknown => Self::error(
                503,
                "settlement_unknown",
                "the payment may have been taken: its settlement did not confirm in time. Do not pay again; the same payment is not accepted twice",
            ),
        }
    }

    /// A CORS preflight on a priced route: answered here, never charged, never forwarded.
    pub fn preflight(allow_methods: &str) -> Self {
        let headers = vec![
            ("Access-Control-Allow-Methods", allow_methods.to_string()),
            ("Access-Control-Allow-Headers", ALLOW_HEADERS.into()),
            ("Access-Control-Max-Age", "600".into()),
        ];
        Self::payment(204, headers, Bytes::new())
    }

    /// A plain-text answer (a blocked crawler).
    pub fn text(status: u16, body: String) -> Self {
        Self::payment(
            status,
            vec![("Content-Type", "text/plain; charset=utf-8".into())],
            Bytes::from(body),
        )
    }

    /// A JSON document (a paid invoice's receipt).
    pub fn json(status: u16, doc: &serde_json::Value) -> Self {
        Self::payment(
            status,
            vec![("Content-Type", "application/json".into())],
            Bytes::from(doc.to_string()),
        )
    }

    /// A JSON error: `{"error": code, "message": …}`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        let body = serde_json::json!({ "error": code, "message": message });
        let mut r = Self::payment(
            status,
            vec![("Content-Type", "application/json".into())],
            Bytes::from(body.to_string()),
        );
        if status == 503 {
            r.headers.push(("Retry-After", "5".into()));
        }
        r
    }

    fn payment(status: u16, mut headers: Vec<(&'static str, String)>, body: Bytes) -> Self {
        headers.push(("Cache-Control", "no-store".into()));
        headers.push(("Access-Control-Allow-Origin", "*".into()));
        headers.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.into()));
        Self {
            status,
            headers,
            body,
        }
    }

    /// Writes the reply; for `HEAD` only the headers.
    pub async fn send(self, session: &mut Session, head_only: bool) -> pingora::Result<()> {
        let mut resp = ResponseHeader::build(self.status, Some(self.headers.len() + 1))?;
        for (name, value) in self.headers {
            resp.insert_header(name, value)?;
        }
        resp.insert_header("Content-Length", self.body.len().to_string())?;
        let no_body = head_only || self.body.is_empty();
        session
            .write_response_header(Box::new(resp), no_body)
            .await?;
        if !no_body {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }
}

/// Chunk size for files of the built-in directory origin.
const FILE_CHUNK: usize = 64 * 1024;

/// Writes a response of the built-in directory origin, streaming a file in chunks instead of
/// reading it into memory; for `HEAD` only the headers.
pub async fn send_local(
    session: &mut Session,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: LocalBody,
    head_only: bool,
) -> pingora::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 1))?;
    for (name, value) in headers {
        resp.insert_header(name, value)?;
    }
    resp.insert_header("Content-Length", body.len().to_string())?;
    let no_body = head_only || body.is_empty();
    session
        .write_response_header(Box::new(resp), no_body)
        .await?;
    if no_body {
        return Ok(());
    }
    match body {
        LocalBody::Text(text) => session.write_response_body(Some(text), true).await,
        LocalBody::File(mut file, len) => {
            let mut sent = 0u64;
            while sent < len {
                let mut chunk =
                    bytes::BytesMut::with_capacity(FILE_CHUNK.min((len - sent) as usize));
                let n = file.read_buf(&mut chunk).await.map_err(|e| {
                    pingora::Error::because(
                        pingora::ErrorType::ReadError,
                        "reading a static file",
                        e,
                    )
                })?;
                if n == 0 {
                    // The file shrank under us: end the response short rather than hang.
                    return pingora::Error::e_explain(
                        pingora::ErrorType::ReadError,
                        "static file ended early",
                    );
                }
                sent += n as u64;
                session
                    .write_response_body(Some(chunk.freeze()), sent >= len)
                    .await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_json_with_a_code() {
        let r = Reply::error(503, "facilitator_unavailable", "down");
        assert_eq!(r.status, 503);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], "facilitator_unavailable");
        assert!(r.headers.iter().any(|(n, _)| *n == "Retry-After"));
    }

    #[test]
    fn preflight_allows_payment_headers() {
        let r = Reply::preflight("GET, HEAD");
        assert_eq!(r.status, 204);
        let allow = &r
            .headers
            .iter()
            .find(|(n, _)| *n == "Access-Control-Allow-Headers")
            .unwrap()
            .1;
        assert!(allow.contains("PAYMENT-SIGNATURE") && allow.contains("X-PAYMENT"));
    }
}

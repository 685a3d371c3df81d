//! Client for a facilitator's HTTP API: `POST /verify`, `POST /settle`, `GET /supported` (spec §7).
//!
//! Verification and settlement sit behind the [`Verifier`] and [`Settler`] traits so that local
//! verification and on-chain settlement can replace the facilitator per config without touching the
//! request path. Auth headers come from environment variables named in the config.

mod cdp;
mod redact;
mod supported;

use std::time::Duration;

use async_trait::async_trait;
use http::HeaderMap;

pub use cdp::{CdpCredentials, CdpSigner};
pub use redact::redact_url;
pub use supported::{Supported, SupportedKind};

use crate::x402::settlement::{FacilitatorRequest, Payment, SettleResponse, VerifyResponse};

/// Why the facilitator gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FacilitatorError {
    /// No connection could be made (refused, DNS, TLS): the request was never sent.
    #[error("facilitator unreachable: {0}")]
    Unreachable(String),
    /// The request was sent but no answer came (timeout, connection lost): it may have acted.
    #[error("no answer from the facilitator: {0}")]
    NoAnswer(String),
    /// It answered, but not with a verify/settle response.
    #[error("facilitator answered HTTP {status}: {body}")]
    BadResponse { status: u16, body: String },
}

/// Checks a payment before the origin is called (the facilitator's `/verify`; local
/// verification lives in `evm/` and `proxy/paywall.rs`).
#[async_trait]
pub trait Verifier: Send + Sync {
    async fn verify(&self, payment: &Payment<'_>) -> Result<VerifyResponse, FacilitatorError>;
}

/// Moves the money: the facilitator's `/settle`, or the gateway itself (`evm/settle.rs`).
#[async_trait]
pub trait Settler: Send + Sync {
    async fn settle(&self, payment: &Payment<'_>) -> Result<SettleResponse, FacilitatorError>;
}

/// Sent with CDP calls, as the CDP SDKs do.
const CORRELATION_CONTEXT: &str = concat!(
    "sdk_version=",
    env!("CARGO_PKG_VERSION"),
    ",sdk_language=rust,source=x402-gateway,source_version=",
    env!("CARGO_PKG_VERSION")
);

/// Settings of a facilitator client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilitatorSettings {
    /// Base URL without a trailing `/`.
    pub url: String,
    /// Extra headers on every call (e.g. `Authorization`), resolved from the environment.
    pub headers: Vec<(String, String)>,
    pub verify_timeout: Duration,
    pub settle_timeout: Duration,
    /// Sign every call with a fresh CDP JWT (`[facilitator] auth = "cdp"`).
    pub cdp: Option<CdpCredentials>,
}

/// An HTTP facilitator.
#[derive(Debug)]
pub struct FacilitatorClient {
    settings: FacilitatorSettings,
    /// The URL with credentials masked, for logs and `/status`.
    redacted_url: String,
    /// Sends the configured auth headers on every call.
    http: reqwest::Client,
    /// Signs a JWT per call, for CDP.
    cdp: Option<CdpSigner>,
    supported: Supported,
}

impl FacilitatorClient {
    pub fn new(settings: FacilitatorSettings) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            let mut value = http::HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header `{name}` is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .default_headers(headers)
            .build()
            .map_err(|e| format!("cannot build the facilitator HTTP client: {e}"))?;
        let cdp = settings.cdp.as_ref().map(CdpSigner::new).transpose()?;
        Ok(Self {
            cdp,
            redacted_url: redact_url(&settings.url),
            settings,
            http,
            supported: Supported::default(),
        })
    }

    pub fn settings(&self) -> &FacilitatorSettings {
        &self.settings
    }

    /// The URL with any credentials masked: what logs and `/status` show.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// An error's text without the URL reqwest puts in it (it may carry credentials), then the
    /// masked base URL.
    fn describe(&self, e: reqwest::Error) -> String {
        format!("{} ({})", describe(&e.without_url()), self.redacted_url)
    }

    /// The cached `/supported` answer.
    pub fn supported(&self) -> &Supported {
        &self.supported
    }

    /// Fetches `/supported` into the cache.
    pub async fn refresh_supported(&self) {
        let url = format!("{}/supported", self.settings.url);
        let result = async {
            let resp = self
                .signed(self.http.get(&url), "GET", &url)?
                .timeout(self.settings.verify_timeout)
                .send()
                .await
                .map_err(|e| self.describe(e))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| self.describe(e))?;
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            serde_json::from_slice(&body).map_err(|e| format!("malformed /supported: {e}"))
        }
        .await;
        self.supported.record(result);
    }

    /// Adds a fresh CDP JWT to a call, when configured.
    fn signed(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, String> {
        let Some(signer) = &self.cdp else {
            return Ok(request);
        };
        use crate::clock::Clock;
        let mut value = http::HeaderValue::from_str(&signer.authorization(
            method,
            url,
            crate::clock::SystemClock.now_secs(),
        )?)
        .map_err(|_| "the CDP JWT is not a header value".to_string())?;
        value.set_sensitive(true);
        Ok(request
            .header(http::header::AUTHORIZATION, value)
            .header("Correlation-Context", CORRELATION_CONTEXT))
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &FacilitatorRequest<'_>,
        timeout: Duration,
        is_answer: fn(&serde_json::Value) -> bool,
    ) -> Result<T, FacilitatorError> {
        let url = format!("{}{path}", self.settings.url);
        let resp = self
            .signed(self.http.post(&url), "POST", &url)
            .map_err(FacilitatorError::Unreachable)?
            .json(request)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    FacilitatorError::Unreachable(self.describe(e))
                } else {
                    FacilitatorError::NoAnswer(self.describe(e))
                }
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| FacilitatorError::NoAnswer(self.describe(e)))?;
        let bad = || FacilitatorError::BadResponse {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        };
        // Like the reference client: a non-2xx whose JSON is still a verify/settle answer counts as one.
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| bad())?;
        if !(200..300).contains(&status) && !is_answer(&json) {
            return Err(bad());
        }
        serde_json::from_value(json).map_err(|_| bad())
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl Verifier for FacilitatorClient {
    async fn verify(&self, payment: &Payment<'_>) -> Result<VerifyResponse, FacilitatorError> {
        let request = payment.facilitator_request();
        self.post("/verify", &request, self.settings.verify_timeout, |v| {
            v.get("isValid").is_some()
        })
        .await
    }
}

#[async_trait]
impl Settler for FacilitatorClient {
    async fn settle(&self, payment: &Payment<'_>) -> Result<SettleResponse, FacilitatorError> {
        let request = payment.facilitator_request();
        self.post("/settle", &request, self.settings.settle_timeout, |v| {
            v.get("success").is_some()
        })
        .await
    }
}

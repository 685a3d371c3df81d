//! The admin listener (loopback by default), a Pingora HTTP app:
//!
//! | path | answer |
//! |---|---|
//! | `GET /healthz` | 200 `ok` while the process serves |
//! | `GET /readyz` | 200 once a config is loaded (facilitator state is on `/status`, not here: a facilitator outage must not pull free routes out of a load balancer) |
//! | `GET /status` | JSON: config version, when it was loaded, last reload error, routes, facilitator `/supported`, the ledger's payments by state (paid-not-delivered among them) and the value owed under `background` |
//! | `GET /metrics` | Prometheus text, see `metrics.rs` |
//! | `/tabs…` | the toll booth's tabs and batches, see `tabs.rs` |

pub mod metrics;
pub mod tabs;
pub mod toll_metrics;

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;

use crate::config::reload::LiveConfig;
use crate::ledger::{LedgerError, State, Summary};
use crate::settlement::Settlement;
use crate::store::ReplayGuard;
pub use metrics::Metrics;

/// The admin HTTP app.
pub struct Admin {
    pub config: Arc<LiveConfig>,
    pub metrics: Arc<Metrics>,
    pub guard: Arc<dyn ReplayGuard>,
    pub settlement: Arc<Settlement>,
    /// The tabs' billing (`None` without a ledger).
    pub billing: Option<Arc<crate::billing::Billing>>,
}

impl Admin {
    /// Reads the ledger's counts and sets the ledger gauges from them (and the owed total);
    /// `None` without a ledger.
    fn ledger_summary(&self) -> Option<Result<Summary, LedgerError>> {
        let owed = self.settlement.owed.total();
        self.metrics
            .unsettled_value
            .set(owed.saturating_to::<u128>() as f64);
        let summary = self.settlement.ledger()?.reader().summary();
        if let Ok(s) = &summary {
            let undelivered = s.count(State::PaidNotDelivered);
            self.metrics.paid_not_delivered.set(undelivered as i64);
        }
        Some(summary)
    }

    /// The `/status` ledger section; `null` without a ledger.
    fn ledger(&self) -> serde_json::Value {
        match self.ledger_summary() {
            None => serde_json::Value::Null,
            Some(Ok(summary)) => {
                let by_state: serde_json::Map<String, serde_json::Value> = summary
                    .counts
                    .iter()
                    .map(|(state, n)| (state.as_str().to_string(), json!(n)))
                    .collect();
                json!({
                    "payments": by_state,
                    "paid_not_delivered": summary.count(State::PaidNotDelivered),
                    "unsettled_units": summary.unsettled_units.to_string(),
                    "owed_units": self.settlement.owed.total().to_string(),
                })
            }
            Some(Err(e)) => json!({ "error": e.to_string() }),
        }
    }

    fn status(&self) -> serde_json::Value {
        let s = self.config.snapshot();
        let supported = s.facilitator.supported().state();
        json!({
            "config": {
                "path": self.config.path().display().to_string(),
                "version": s.version,
                "loaded_at": s.loaded_at,
                "last_reload_error": self.config.last_error(),
            },
            "listen": s.listen,
            "routes": s.routes.len(),
            "origins": s.origins.keys().collect::<Vec<_>>(),
            "replay_claims": self.guard.len(),
            "ledger": self.ledger(),
            "facilitator": {
                "url": s.facilitator.redacted_url(),
                "supported": supported.kinds,
                "last_error": supported.last_error,
            },
        })
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let method = session.req_header().method.as_str().to_string();
        let query = session.req_header().uri.query().map(str::to_string);
        let authorization = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let billing = self.billing.as_deref();
        let (q, auth) = (query.as_deref(), authorization.as_deref());
        if let Some((status, doc)) = tabs::answer(billing, &method, &path, q, auth).await {
            let body = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            return respond(status, "application/json", body);
        }
        let (status, content_type, body) = match path.as_str() {
            "/healthz" | "/readyz" => (200, "text/plain", b"ok\n".to_vec()),
            "/status" => (
                200,
                "application/json",
                serde_json::to_vec_pretty(&self.status()).unwrap_or_default(),
            ),
            "/metrics" => {
                self.metrics.replay_claims.set(self.guard.len() as i64);
                let _ = self.ledger_summary();
                (200, "text/plain; version=0.0.4", self.metrics.render())
            }
            _ => (404, "text/plain", b"not found\n".to_vec()),
        };
        respond(status, content_type, body)
    }
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .header("Content-Length", body.len())
        .header("Cache-Control", "no-store")
        .body(body)
        .unwrap_or_default()
}

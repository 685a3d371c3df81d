//! Every metric the gateway exports, with its labels, in one place (Prometheus text format).
//!
//! | metric | labels |
//! |---|---|
//! | `x402_requests_total` | `route`, `outcome` |
//! | `x402_challenges_total` | `route` (402 challenges sent) |
//! | `x402_payments_total` | `event` = verified, settled, settle_failed, settle_unknown, settle_unavailable, invalid, released, verify_limited |
//! | `x402_facilitator_seconds` | `op` = verify, settle, supported; `result` = ok, invalid, error |
//! | `x402_config_reloads_total` | `result` = ok, error |
//! | `x402_config_version` | |
//! | `x402_replay_claims` | (live single-use claims) |
//! | `x402_connections_open` | (client connections open now) |
//! | `x402_connections_closed_total` | `reason` = idle, header_timeout, over_limit (closed by the gateway) |

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub challenges: IntCounterVec,
    pub payments: IntCounterVec,
    pub facilitator_seconds: HistogramVec,
    pub reloads: IntCounterVec,
    pub config_version: IntGauge,
    pub replay_claims: IntGauge,
    pub connections_open: IntGauge,
    pub connections_closed: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("x402_requests_total", "Requests by route and outcome"),
            &["route", "outcome"],
        )?;
        let challenges = IntCounterVec::new(
            Opts::new("x402_challenges_total", "402 payment challenges sent"),
            &["route"],
        )?;
        let payments = IntCounterVec::new(
            Opts::new("x402_payments_total", "Payments by lifecycle event"),
            &["event"],
        )?;
        let facilitator_seconds = HistogramVec::new(
            HistogramOpts::new("x402_facilitator_seconds", "Facilitator call latency").buckets(
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ],
            ),
            &["op", "result"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new("x402_config_reloads_total", "Config reload attempts"),
            &["result"],
        )?;
        let config_version = IntGauge::new("x402_config_version", "Version of the serving config")?;
        let replay_claims = IntGauge::new("x402_replay_claims", "Live single-use payment claims")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(challenges.clone()))?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(facilitator_seconds.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(config_version.clone()))?;
        let connections_open =
            IntGauge::new("x402_connections_open", "Client connections open now")?;
        let connections_closed = IntCounterVec::new(
            Opts::new(
                "x402_connections_closed_total",
                "Client connections the gateway closed, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(replay_claims.clone()))?;
        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(connections_closed.clone()))?;
        Ok(Self {
            registry,
            requests,
            challenges,
            payments,
            facilitator_seconds,
            reloads,
            config_version,
            replay_claims,
            connections_open,
            connections_closed,
        })
    }

    /// Counts a client connection closed by the gateway.
    pub fn connection_closed(&self, reason: &str) {
        self.connections_closed.with_label_values(&[reason]).inc();
    }

    /// Counts one payment lifecycle event.
    pub fn payment(&self, event: &str) {
        self.payments.with_label_values(&[event]).inc();
    }

    /// Records a facilitator call.
    pub fn facilitator(&self, op: &str, result: &str, seconds: f64) {
        self.facilitator_seconds
            .with_label_values(&[op, result])
            .observe(seconds);
    }

    /// The text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

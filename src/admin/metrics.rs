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
//! | `x402_settlements_pending` | (background payments waiting for or in settlement) |
//! | `x402_settle_runs_in_flight` | (background settlement runs under way: batches, or facilitator rounds) |
//! | `x402_unsettled_value` | (atomic units owed by payers under `background`, all assets) |
//! | `x402_paid_not_delivered` | (payments charged whose response could not be delivered) |
//! | `x402_settle_seconds` | (background: from acceptance to settled on chain) |
//! | `x402_settle_batch_size` | (payments per background settlement run) |
//! | `x402_settle_failures_total` | `reason` (background settlements that failed) |
//! | `x402_ledger_writes_failed_total` | (payments refused because the ledger could not record them) |
//! | `x402_passes_issued_total` | (access passes sent with paid responses) |
//! | `x402_pass_checks_total` | `result` = hit, pass_expired, pass_tampered, pass_retired_key, pass_out_of_scope, pass_exhausted, pass_revoked, pass_malformed |
//! | `x402_idempotent_total` | `result` = replayed, conflict, in_progress, missing, invalid (payment-identifier) |
//! | `x402_sign_ins_total` | `result` = ok, or the refusal reason (`invalid_siwx_*`, `siwx_not_paid`) |
//! | `x402_toll_*`, `x402_tab_*` | the toll booth's and its tabs' (`toll_metrics.rs`) |

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
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
    pub settlements_pending: IntGauge,
    pub settle_runs_in_flight: IntGauge,
    pub unsettled_value: Gauge,
    pub paid_not_delivered: IntGauge,
    pub settle_seconds: Histogram,
    pub settle_batch_size: Histogram,
    pub settle_failures: IntCounterVec,
    pub ledger_write_failures: IntCounter,
    pub passes_issued: IntCounter,
    pub pass_checks: IntCounterVec,
    pub idempotent: IntCounterVec,
    pub sign_ins: IntCounterVec,
    /// The toll booth's (`admin/toll_metrics.rs`).
    pub toll: super::toll_metrics::TollMetrics,
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
        let settlements_pending = IntGauge::new(
            "x402_settlements_pending",
            "Background payments waiting for or in settlement",
        )?;
        let settle_runs_in_flight = IntGauge::new(
            "x402_settle_runs_in_flight",
            "Background settlement runs under way (batches, or facilitator rounds)",
        )?;
        let unsettled_value = Gauge::new(
            "x402_unsettled_value",
            "Atomic units owed by payers under background settlement",
        )?;
        let paid_not_delivered = IntGauge::new(
            "x402_paid_not_delivered",
            "Payments charged whose response could not be delivered",
        )?;
        let settle_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "x402_settle_seconds",
                "Background settlement latency, from acceptance to settled",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
        )?;
        let settle_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "x402_settle_batch_size",
                "Payments per background settlement run",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ]),
        )?;
        let settle_failures = IntCounterVec::new(
            Opts::new(
                "x402_settle_failures_total",
                "Background settlements that failed, by reason",
            ),
            &["reason"],
        )?;
        let ledger_write_failures = IntCounter::new(
            "x402_ledger_writes_failed_total",
            "Payments refused because the ledger could not record them",
        )?;
        registry.register(Box::new(settlements_pending.clone()))?;
        registry.register(Box::new(settle_runs_in_flight.clone()))?;
        registry.register(Box::new(unsettled_value.clone()))?;
        registry.register(Box::new(paid_not_delivered.clone()))?;
        registry.register(Box::new(settle_seconds.clone()))?;
        registry.register(Box::new(settle_batch_size.clone()))?;
        registry.register(Box::new(settle_failures.clone()))?;
        registry.register(Box::new(ledger_write_failures.clone()))?;
        let passes_issued = IntCounter::new(
            "x402_passes_issued_total",
            "Access passes sent with paid responses",
        )?;
        let counter =
            |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), &["result"]);
        let pass_checks = counter("x402_pass_checks_total", "Passes presented, by result")?;
        let idempotent = counter(
            "x402_idempotent_total",
            "Payment identifiers seen again or refused, by result",
        )?;
        let sign_ins = counter("x402_sign_ins_total", "Sign-In-With-X attempts, by result")?;
        registry.register(Box::new(passes_issued.clone()))?;
        registry.register(Box::new(pass_checks.clone()))?;
        registry.register(Box::new(idempotent.clone()))?;
        registry.register(Box::new(sign_ins.clone()))?;
        let toll = super::toll_metrics::TollMetrics::register(&registry)?;
        Ok(Self {
            toll,
            passes_issued,
            pass_checks,
            idempotent,
            sign_ins,
            settlements_pending,
            settle_runs_in_flight,
            unsettled_value,
            paid_not_delivered,
            settle_seconds,
            settle_batch_size,
            settle_failures,
            ledger_write_failures,
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

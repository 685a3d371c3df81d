//! The toll booth's metrics, mirroring Cloudflare's AI Crawl Control dashboard: requests by
//! crawler, identity method and outcome, action and mode; what was charged and what observe mode
//! would have charged (in whole micro-USD, so totals are exact to the cent); refusals; tab lines.
//!
//! | metric | labels |
//! |---|---|
//! | `x402_toll_requests_total` | `crawler`, `method`, `outcome`, `action`, `mode` |
//! | `x402_toll_charged_micro_usd_total` | `crawler`, `rail` = tab, x402 |
//! | `x402_toll_would_charge_micro_usd_total` | `crawler` (observe mode) |
//! | `x402_toll_refusals_total` | `code` (`crawler-error`), `reason` |
//! | `x402_tab_lines_total` | `result` = new, replay |
//! | `x402_tab_batches_total` | `account`: batches closed at cutoffs |
//! | `x402_tab_billed_micro_usd_total` | `account`: what those batches bill |
//! | `x402_tab_batches_paid_total` | `rail` = x402, admin |
//! | `x402_tab_webhook_deliveries_total` | `result` = delivered, failed |

use prometheus::{IntCounterVec, Opts, Registry};

/// The toll booth's counters.
pub struct TollMetrics {
    pub requests: IntCounterVec,
    pub charged: IntCounterVec,
    pub would_charge: IntCounterVec,
    pub refusals: IntCounterVec,
    pub tab_lines: IntCounterVec,
    pub batches: IntCounterVec,
    pub billed: IntCounterVec,
    pub batches_paid: IntCounterVec,
    pub deliveries: IntCounterVec,
}

impl TollMetrics {
    pub(super) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let v = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(v.clone()))?;
                Ok(v)
            };
        Ok(Self {
            requests: vec(
                "x402_toll_requests_total",
                "Requests seen by the toll booth",
                &["crawler", "method", "outcome", "action", "mode"],
            )?,
            charged: vec(
                "x402_toll_charged_micro_usd_total",
                "Micro-USD charged to crawlers",
                &["crawler", "rail"],
            )?,
            would_charge: vec(
                "x402_toll_would_charge_micro_usd_total",
                "Micro-USD observe mode would have charged",
                &["crawler"],
            )?,
            refusals: vec(
                "x402_toll_refusals_total",
                "Crawler requests refused, by crawler-error code and reason",
                &["code", "reason"],
            )?,
            tab_lines: vec(
                "x402_tab_lines_total",
                "Charged crawler requests written to tabs",
                &["result"],
            )?,
            batches: vec(
                "x402_tab_batches_total",
                "Tab batches closed at cutoffs",
                &["account"],
            )?,
            billed: vec(
                "x402_tab_billed_micro_usd_total",
                "Micro-USD billed in closed tab batches",
                &["account"],
            )?,
            batches_paid: vec(
                "x402_tab_batches_paid_total",
                "Tab batches marked paid",
                &["rail"],
            )?,
            deliveries: vec(
                "x402_tab_webhook_deliveries_total",
                "Tab batch webhook attempts",
                &["result"],
            )?,
        })
    }
}

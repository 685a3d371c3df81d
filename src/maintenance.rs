//! Background work off the request path, as one Pingora background service: config watching and
//! SIGHUP reloads, freeing replaced config snapshots, the replay-set sweep, origin health checks,
//! and the facilitator `/supported` cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::admin::Metrics;
use crate::clock::Clock;
use crate::config::reload::LiveConfig;
use crate::snapshot::OriginKind;
use crate::store::ReplayGuard;

/// How often `/supported` is refreshed.
const SUPPORTED_EVERY: Duration = Duration::from_secs(300);

/// The gateway's background service.
pub struct Maintenance {
    pub config: Arc<LiveConfig>,
    pub guard: Arc<dyn ReplayGuard>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl BackgroundService for Maintenance {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::spawn(self.config.clone().watch());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut supported_for: Option<(u64, Instant)> = None;
        let mut health_runs: Vec<(String, Instant)> = Vec::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {}
            }
            let snapshot = self.config.snapshot();
            self.metrics.config_version.set(snapshot.version as i64);
            // The facilitator's capabilities: at start, after a reload, then every few minutes.
            let due = supported_for
                .is_none_or(|(v, at)| v != snapshot.version || at.elapsed() >= SUPPORTED_EVERY);
            if due {
                supported_for = Some((snapshot.version, Instant::now()));
                let facilitator = snapshot.facilitator.clone();
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    facilitator.refresh_supported().await;
                    let ok = facilitator.supported().state().last_error.is_none();
                    metrics.facilitator(
                        "supported",
                        if ok { "ok" } else { "error" },
                        started.elapsed().as_secs_f64(),
                    );
                    if let Some(e) = facilitator.supported().state().last_error.as_ref() {
                        tracing::warn!(url = %facilitator.settings().url, "facilitator /supported failed: {e}");
                    }
                });
            }
            for (name, origin) in &snapshot.origins {
                let OriginKind::Upstream(up) = &origin.kind else {
                    continue;
                };
                let Some(every) = up.health_interval else {
                    continue;
                };
                let key = format!("{}#{name}", snapshot.version);
                let last = health_runs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, at)| *at);
                if last.is_none_or(|at| at.elapsed() >= every) {
                    health_runs.retain(|(k, _)| *k != key);
                    health_runs.push((key, Instant::now()));
                    let balancer = up.balancer.clone();
                    tokio::spawn(async move { balancer.backends().run_health_check(true).await });
                }
            }
            health_runs.retain(|(k, _)| k.starts_with(&format!("{}#", snapshot.version)));
            self.config.free_retired();
            let swept = self.guard.sweep(self.clock.now_secs()).await;
            if swept > 0 {
                tracing::debug!(swept, "expired payment claims forgotten");
            }
        }
    }
}

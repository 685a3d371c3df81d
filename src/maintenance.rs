//! Background work off the request path, as one Pingora background service: config watching and
//! SIGHUP reloads, freeing replaced config snapshots, the replay-set sweep, origin health checks,
//! the facilitator `/supported` cache, and the toll booth's crawler IP lists fetched from URLs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::task::JoinHandle;

use crate::admin::Metrics;
use crate::clock::Clock;
use crate::config::reload::LiveConfig;
use crate::proxy::toll::TollState;
use crate::snapshot::{OriginKind, Snapshot};
use crate::store::{AccessState, ReplayGuard};

/// How often `/supported` is refreshed.
const SUPPORTED_EVERY: Duration = Duration::from_secs(300);

/// The gateway's background service.
pub struct Maintenance {
    pub config: Arc<LiveConfig>,
    pub guard: Arc<dyn ReplayGuard>,
    pub access: Arc<dyn AccessState>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub toll: Arc<TollState>,
}

#[async_trait]
impl BackgroundService for Maintenance {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::spawn(self.config.clone().watch());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut supported_for: Option<(u64, Instant)> = None;
        // Health-check loops of the serving snapshot, replaced when a reload brings a new one.
        let mut health: (u64, Vec<JoinHandle<()>>) = (0, Vec::new());
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
                        tracing::warn!(url = %facilitator.redacted_url(), "facilitator /supported failed: {e}");
                    }
                });
            }
            if health.0 != snapshot.version {
                health.1.drain(..).for_each(|task| task.abort());
                health = (snapshot.version, health_checks(&snapshot));
            }
            if let Some(booth) = snapshot.toll.as_ref() {
                refresh_ip_lists(&self.toll, booth);
            }
            self.config.free_retired();
            let now = self.clock.now_secs();
            let swept = self.guard.sweep(now).await + self.access.sweep(now).await;
            if swept > 0 {
                tracing::debug!(swept, "expired payment claims forgotten");
            }
        }
    }
}

/// Fetches the crawler IP lists that are due, off the tick (a round already running is left be).
fn refresh_ip_lists(toll: &Arc<TollState>, booth: &crate::toll::policy::TollBooth) {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let urls = booth.ip_list_urls();
    let every = booth.ip_list_refresh;
    if !toll.classifier.ip_lists.any_due(&urls, every) {
        return;
    }
    let toll = toll.clone();
    tokio::spawn(async move {
        let client = CLIENT.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        });
        toll.classifier.ip_lists.refresh(&urls, every, client).await;
    });
}

/// Starts one loop per health-checked upstream pool of `snapshot`.
fn health_checks(snapshot: &Snapshot) -> Vec<JoinHandle<()>> {
    snapshot
        .origins
        .values()
        .filter_map(|origin| match &origin.kind {
            OriginKind::Upstream(up) => Some((up.balancer.clone(), up.health_interval?)),
            OriginKind::Static(_) | OriginKind::Invoice => None,
        })
        .map(|(balancer, every)| {
            tokio::spawn(async move {
                loop {
                    balancer.backends().run_health_check(true).await;
                    tokio::time::sleep(every).await;
                }
            })
        })
        .collect()
}

//! The billing's Pingora background service: at start it exports any invoice a crash left
//! unwritten, then every second it closes the batches whose cutoff has passed and delivers the
//! ones their webhook has not accepted.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::{Billing, TICK};

/// Runs [`Billing`] until shutdown.
pub struct BillingService(pub Arc<Billing>);

#[async_trait]
impl BackgroundService for BillingService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if let Err(error) = self.0.export_missing().await {
            tracing::error!(%error, "tab invoices not checked at start");
        }
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => self.0.tick().await,
            }
        }
    }
}

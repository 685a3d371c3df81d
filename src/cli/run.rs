//! `x402-gateway run`: load the config, then start the proxy, admin and maintenance services on
//! Pingora and serve until a signal (SIGTERM/SIGINT stop, SIGHUP reloads the config).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::{Admin, Metrics};
use crate::billing::Billing;
use crate::billing::service::BillingService;
use crate::clock::{Clock, SystemClock};
use crate::config::reload::LiveConfig;
use crate::config::{CompileContext, load, process_env};
use crate::ledger::{Ledger, LedgerOptions};
use crate::maintenance::Maintenance;
use crate::proxy::Gateway;
use crate::proxy::connection::GuardedApp;
use crate::proxy::paywall::Payments;
use crate::proxy::toll::TollState;
use crate::settlement::worker::Worker;
use crate::settlement::{Job, Settlement, recover};
use crate::snapshot::LedgerSettings;
use crate::store::{
    AccessState, InFlight, LedgeredAccessState, MemoryAccessState, MemoryReplayGuard, ReplayGuard,
};
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs the gateway until it is told to stop.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ctx = CompileContext {
        version: 1,
        now: clock.now_secs(),
        previous: None,
        env: &process_env,
    };
    // The config first: it says how access lines are written. Nothing logs before this.
    let compiled = load(path, &ctx).map_err(|e| anyhow!("{e}"))?;
    // Kept for the life of the process: dropping it would stop the log writer thread.
    let _log_writer = init_tracing(compiled.snapshot.access_log_json);
    for w in &compiled.warnings {
        tracing::warn!("{w}");
    }
    let first = compiled.snapshot;
    let tls_listen = first.tls_listen.clone();
    let (listen, admin_listen, threads, limits) = (
        first.listen.clone(),
        first.admin_listen.clone(),
        first.threads,
        first.connection_limits,
    );

    let metrics = Arc::new(Metrics::new().context("metrics registry")?);
    let reload_metrics = metrics.clone();
    let config = Arc::new(LiveConfig::new(
        path.to_path_buf(),
        first,
        clock.clone(),
        Box::new(move |result| {
            let label = if result.is_ok() { "ok" } else { "error" };
            reload_metrics.reloads.with_label_values(&[label]).inc();
        }),
    ));
    let guard: Arc<dyn ReplayGuard> = Arc::new(MemoryReplayGuard::new());
    let (settlement, jobs) = open_ledger(
        config.snapshot().ledger.as_ref(),
        guard.as_ref(),
        clock.as_ref(),
    )?;
    // Pass uses, redeemed nonces and payment identifiers outlive a restart with the ledger.
    let access: Arc<dyn AccessState> = match settlement.ledger() {
        Some(ledger) => Arc::new(
            LedgeredAccessState::restore(ledger.clone(), clock.now_secs())
                .context("reading the access state from the ledger")?,
        ),
        None => Arc::new(MemoryAccessState::new()),
    };

    let toll = Arc::new(
        TollState::new(
            config.snapshot().toll.as_deref(),
            settlement.ledger().cloned(),
        )
        .context("starting the toll booth")?,
    );

    let conf = ServerConf {
        threads,
        // One single-threaded runtime per thread: no work-stealing synchronization on the hot path.
        work_stealing: false,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let gateway = Gateway {
        config: config.clone(),
        payments: Payments {
            guard: guard.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            verifications: InFlight::new(),
            settlement: settlement.clone(),
            access: access.clone(),
            toll: toll.clone(),
        },
    };
    let app = GuardedApp::new(
        pingora::proxy::http_proxy(&server.configuration, gateway),
        limits,
        metrics.clone(),
    );
    let mut proxy = Service::new("x402-gateway".to_string(), app);
    for addr in &listen {
        proxy.add_tcp(addr);
    }
    for tls in &tls_listen {
        let (cert, key) = (
            tls.cert.display().to_string(),
            tls.key.display().to_string(),
        );
        proxy
            .add_tls(&tls.listen, &cert, &key)
            .map_err(|e| anyhow!("cannot listen for HTTPS on {}: {e}", tls.listen))?;
    }
    server.add_service(proxy);

    // The tabs' cutoffs, invoices and webhooks live beside the ledger.
    let billing = config.snapshot().ledger.as_ref().map(|settings| {
        Arc::new(Billing::new(
            config.clone(),
            toll.clone(),
            clock.clone(),
            metrics.clone(),
            &settings.path,
        ))
    });
    if let Some(billing) = &billing {
        server.add_service(background_service(
            "x402-billing",
            BillingService(billing.clone()),
        ));
    }
    if let Some(addr) = &admin_listen {
        let admin = Admin {
            config: config.clone(),
            metrics: metrics.clone(),
            guard: guard.clone(),
            settlement: settlement.clone(),
            billing,
        };
        let mut service = Service::new("x402-admin".to_string(), admin);
        service.add_tcp(addr);
        server.add_service(service);
    }
    if let Some(jobs) = jobs {
        server.add_service(background_service(
            "x402-settlement",
            Worker {
                settlement,
                jobs: std::sync::Mutex::new(Some(jobs)),
                config: config.clone(),
                clock: clock.clone(),
                metrics: metrics.clone(),
                guard: guard.clone(),
                access: access.clone(),
            },
        ));
    }
    server.add_service(background_service(
        "x402-maintenance",
        Maintenance {
            config,
            guard,
            access,
            clock,
            metrics,
            toll,
        },
    ));
    tracing::info!(listen = ?listen, admin = ?admin_listen, threads, "x402-gateway starting");
    server.run_forever()
}

/// Opens the ledger (when enabled) and restores the replay guard from it, before anything is
/// served; the worker resumes open payments once it runs.
fn open_ledger(
    settings: Option<&LedgerSettings>,
    guard: &dyn ReplayGuard,
    clock: &dyn Clock,
) -> anyhow::Result<(Arc<Settlement>, Option<UnboundedReceiver<Job>>)> {
    let Some(settings) = settings else {
        tracing::warn!("[ledger] is disabled: payments in flight are forgotten on restart");
        return Ok((Arc::new(Settlement::without_ledger()), None));
    };
    if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the ledger directory {}", dir.display()))?;
    }
    let mut options = LedgerOptions::new(&settings.path);
    options.group_commit = settings.group_commit;
    options.max_size_bytes = settings.max_size_bytes;
    options.sync_every_commit = settings.sync_every_commit;
    let ledger = Ledger::open(options)
        .with_context(|| format!("cannot open the ledger {}", settings.path.display()))?;
    let (settlement, jobs) = Settlement::new(Arc::new(ledger));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("a runtime for the ledger recovery")?;
    let restored = runtime
        .block_on(recover::restore_claims(
            &settlement,
            guard,
            clock.now_secs(),
        ))
        .context("reading the ledger")?;
    tracing::info!(path = %settings.path.display(), restored, "ledger open");
    Ok((Arc::new(settlement), Some(jobs)))
}

/// Logs go to stdout through a background writer thread, so a request never waits on a `write`
/// syscall for its access-log line; colours only on a terminal. `RUST_LOG` filters (default `info`).
fn init_tracing(access_json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let is_access = |meta: &tracing::Metadata<'_>| meta.target() == "access";
    let text = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer.clone())
        .with_filter(filter_fn(move |meta| !(access_json && is_access(meta))));
    // `[access_log] format = "json"`: each access line one JSON object, its fields at the top.
    let json = access_json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(writer)
            .with_filter(filter_fn(is_access))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .try_init();
    guard
}

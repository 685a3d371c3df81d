//! Hot reload: the file is watched (and SIGHUP reloads too); a new file is compiled completely before
//! one `ArcSwap::store`; a broken file leaves the old snapshot serving and its errors on `/status`.
//!
//! Listeners, thread counts and connection limits are bound at startup; a change to them is logged
//! as needing a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use serde::Serialize;

use super::{CompileContext, load, process_env};
use crate::clock::{Clock, UnixSecs};
use crate::snapshot::Snapshot;

/// The last failed reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadError {
    pub at: UnixSecs,
    pub message: String,
}

/// The live config and its reload history.
pub struct LiveConfig {
    path: PathBuf,
    current: ArcSwap<Snapshot>,
    last_error: ArcSwap<Option<ReloadError>>,
    next_version: AtomicU64,
    /// Replaced snapshots, freed by the maintenance service once no request holds them: freeing a
    /// 10,000-route table takes ~10 ms, which must not land on a request thread.
    retired: std::sync::Mutex<Vec<Arc<Snapshot>>>,
    clock: Arc<dyn Clock>,
    /// Called after each attempt with `Ok(version)` or `Err(())`, for metrics.
    on_reload: Box<dyn Fn(Result<u64, ()>) + Send + Sync>,
}

impl LiveConfig {
    /// Wraps the snapshot loaded at startup.
    pub fn new(
        path: PathBuf,
        first: Snapshot,
        clock: Arc<dyn Clock>,
        on_reload: Box<dyn Fn(Result<u64, ()>) + Send + Sync>,
    ) -> Self {
        let next = first.version + 1;
        Self {
            path,
            current: ArcSwap::from_pointee(first),
            last_error: ArcSwap::from_pointee(None),
            next_version: AtomicU64::new(next),
            retired: std::sync::Mutex::new(Vec::new()),
            clock,
            on_reload,
        }
    }

    /// The snapshot a new request should use.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn last_error(&self) -> Option<ReloadError> {
        self.last_error.load().as_ref().clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file; swaps it in only if it compiles completely.
    pub fn reload(&self) -> Result<u64, String> {
        let previous = self.current.load_full();
        let version = self.next_version.load(Ordering::SeqCst);
        let ctx = CompileContext {
            version,
            now: self.clock.now_secs(),
            previous: Some(&previous),
            env: &process_env,
        };
        match load(&self.path, &ctx) {
            Ok(compiled) => {
                for w in &compiled.warnings {
                    tracing::warn!("{w}");
                }
                let next = compiled.snapshot;
                if next.listen != previous.listen
                    || next.tls_listen != previous.tls_listen
                    || next.admin_listen != previous.admin_listen
                    || next.threads != previous.threads
                    || next.connection_limits != previous.connection_limits
                {
                    tracing::warn!(
                        "config reload: listeners, admin listener, threads and connection limits cannot change without a restart; still serving on {:?}",
                        previous.listen
                    );
                }
                self.next_version.fetch_add(1, Ordering::SeqCst);
                let replaced = self.current.swap(Arc::new(next));
                if let Ok(mut retired) = self.retired.lock() {
                    retired.push(replaced);
                }
                self.last_error.store(Arc::new(None));
                tracing::info!(version, path = %self.path.display(), "config reloaded");
                (self.on_reload)(Ok(version));
                Ok(version)
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(
                    "config reload failed, still serving version {}:\n{message}",
                    previous.version
                );
                self.last_error.store(Arc::new(Some(ReloadError {
                    at: self.clock.now_secs(),
                    message: message.clone(),
                })));
                (self.on_reload)(Err(()));
                Err(message)
            }
        }
    }

    /// Frees replaced snapshots that no request uses any more; returns how many are still held.
    pub fn free_retired(&self) -> usize {
        let done: Vec<Arc<Snapshot>> = match self.retired.lock() {
            Ok(mut retired) => {
                let (free, held) = retired.drain(..).partition(|s| Arc::strong_count(s) == 1);
                *retired = held;
                free
            }
            Err(_) => Vec::new(),
        };
        drop(done); // here, on the maintenance thread, outside the lock
        self.retired.lock().map_or(0, |r| r.len())
    }

    /// Reloads on every change to the file and on SIGHUP, until the process ends.
    pub async fn watch(self: Arc<Self>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let file_name = self.path.file_name().map(|n| n.to_os_string());
        let watch_tx = tx.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = event.is_ok_and(|e| {
                !e.kind.is_access()
                    && e.paths
                        .iter()
                        .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
            });
            if relevant {
                let _ = watch_tx.send(());
            }
        });
        // Watch the directory: editors and `mv` replace the file, which a file watch would lose.
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let _watcher = match watcher {
            Ok(mut w) => match w.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => Some(w),
                Err(e) => {
                    tracing::warn!("cannot watch {}: {e}; reload with SIGHUP", dir.display());
                    None
                }
            },
            Err(e) => {
                tracing::warn!("no file watcher: {e}; reload with SIGHUP");
                None
            }
        };
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading config");
                let _ = tx.send(());
            }
        });
        while rx.recv().await.is_some() {
            // Debounce: a save is often several events; read the file once they settle.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while rx.try_recv().is_ok() {}
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || this.reload()).await;
        }
    }
}

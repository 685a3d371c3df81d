//! `x402-gateway check FILE`: load the config exactly as `run` would, print findings, set the exit code.

use std::path::Path;

use crate::clock::{Clock, SystemClock};
use crate::config::{CompileContext, Severity, load, process_env};

/// Prints every finding; returns 0 when the file loads, 1 otherwise.
pub fn check(path: &Path) -> i32 {
    let ctx = CompileContext {
        version: 1,
        now: SystemClock.now_secs(),
        previous: None,
        env: &process_env,
    };
    match load(path, &ctx) {
        Ok(compiled) => {
            for w in &compiled.warnings {
                println!("{w}");
            }
            let s = &compiled.snapshot;
            let https: Vec<String> = s
                .tls_listen
                .iter()
                .map(|t| format!("{} (https)", t.listen))
                .collect();
            println!(
                "{}: ok: {} routes, {} origins, listening on {}",
                path.display(),
                s.routes.len(),
                s.origins.len(),
                [s.listen.clone(), https].concat().join(", ")
            );
            0
        }
        Err(e) => {
            let errors = e
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            for f in &e.findings {
                eprintln!("{f}");
            }
            eprintln!("{}: {errors} error(s)", path.display());
            1
        }
    }
}

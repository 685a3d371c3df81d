//! The config every in-process bench starts from (a listener, a never-contacted facilitator, a
//! Base Sepolia payTo and one origin), and its compilation into a snapshot. Each bench appends its
//! own routes and sections.
#![allow(dead_code)]

use std::path::Path;

use x402_gateway::config::{CompileContext, compile};
use x402_gateway::snapshot::Snapshot;

/// `[server]`, `[facilitator]`, `[payment]` and `[origins.origin]`.
pub const BASE: &str = include_str!("../../tests/fixtures/base.toml");

/// `BASE` followed by `rest`, compiled at `now` with secrets from `env`.
pub fn snapshot(rest: &str, now: u64, env: &dyn Fn(&str) -> Option<String>) -> Snapshot {
    let ctx = CompileContext {
        version: 1,
        now,
        previous: None,
        env,
    };
    compile(Path::new("gateway.toml"), &format!("{BASE}{rest}"), &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
        .snapshot
}

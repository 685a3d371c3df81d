//! The config every in-process bench starts from (a listener, a never-contacted facilitator, a
//! Base Sepolia payTo and one origin), and its compilation into a snapshot. Each bench appends its
//! own routes and sections.
#![allow(dead_code)]

use std::path::Path;

use x402_gateway::config::{CompileContext, compile};
use x402_gateway::snapshot::Snapshot;

/// `[server]`, `[facilitator]`, `[payment]` and `[origins.origin]`.
pub const BASE: &str = r#"
[server]
listen = ["127.0.0.1:8402"]
default_origin = "origin"
[facilitator]
url = "http://127.0.0.1:1"
[payment]
networks = ["eip155:84532"]
pay_to = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
[origins.origin]
addresses = ["127.0.0.1:9000"]
"#;

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

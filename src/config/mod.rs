//! The operator's file → the live [`Snapshot`]: parse, compile, validate, and hot reload.
//!
//! `schema.rs` is the file format, `compile.rs` the one step that turns it into runtime tables,
//! `reload.rs` keeps the last good snapshot serving when a new file is broken.

mod access;
mod chains;
mod compile;
mod error;
mod facilitator;
mod origins;
mod payment;
pub mod reload;
mod route_checks;
pub mod schema;
mod toll;
pub mod toll_schema;

use std::path::Path;

pub use compile::{CompileContext, Compiled, compile};
pub use error::{ConfigError, Finding, Severity};

/// Reads and compiles a config file.
pub fn load(path: &Path, ctx: &CompileContext<'_>) -> Result<Compiled, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        findings: vec![Finding {
            severity: Severity::Error,
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the config file: {e}"),
        }],
    })?;
    compile(path, &text, ctx)
}

/// Reads a secret from the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `[ledger].path` when the file does not say.
/// In a directory of its own: the config watcher watches the config file's directory, and
/// should not wake for every ledger write.
pub const DEFAULT_LEDGER_PATH: &str = "x402-ledger/payments.sqlite";

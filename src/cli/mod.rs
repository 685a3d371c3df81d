//! The command line: `x402-gateway [run] --config FILE`, `x402-gateway check FILE`,
//! `x402-gateway ledger list|export` and `x402-gateway pass --route NAME --payer ADDRESS`.
//!
//! The only place that uses `anyhow`: errors here end the process with a message.

mod check;
mod ledger;
mod pass;
mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// x402-gateway: a reverse proxy that sells HTTP routes for stablecoins with x402.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file (for the default `run` command).
    #[arg(long, short, default_value = "gateway.toml", global = true)]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate a config file: exit 0 if it loads, else print every error with line and column.
    Check {
        /// The file to check (default: --config).
        file: Option<PathBuf>,
    },
    /// List or export the payment ledger (read-only: works while the gateway runs).
    Ledger(ledger::LedgerArgs),
    /// Issue an access pass for a route by hand (signed with the current access key).
    Pass(pass::PassArgs),
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => exit_code(run::run(&cli.config)),
        Command::Check { file } => check::check(file.as_deref().unwrap_or(&cli.config)),
        Command::Ledger(args) => exit_code(ledger::run(&args, &cli.config)),
        Command::Pass(args) => exit_code(pass::run(&args, &cli.config)),
    }
}

fn exit_code(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("x402-gateway: {e:#}");
            1
        }
    }
}

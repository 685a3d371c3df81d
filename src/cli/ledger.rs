//! `x402-gateway ledger list|export`: reads the payment ledger. The database is opened
//! read-only, so both work while the gateway runs.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::ledger::{Filter, Ledger, Record, State, export};
use crate::rfc3339::parse_rfc3339_ms;

/// Arguments of `x402-gateway ledger`.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub command: LedgerCommand,
}

/// What to do with the ledger.
#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Print the matching payments as a table, newest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write the matching payments as CSV (no payloads) or JSON (everything), newest first.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// The formats of `ledger export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// Which payments: the database and the filters shared by `list` and `export`.
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// The ledger database file. Default: `[ledger].path` of `--config`.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Only this route.
    #[arg(long)]
    pub route: Option<String>,
    /// Only this payer address (case-insensitive).
    #[arg(long)]
    pub payer: Option<String>,
    /// Only this state: reserved, forwarded, settling, settled, failed, released,
    /// paid_not_delivered.
    #[arg(long)]
    pub state: Option<State>,
    /// Created at or after this time: RFC 3339 (2026-12-02T10:00:00Z) or Unix seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub since: Option<u64>,
    /// Created before this time: RFC 3339 (2026-12-02T10:00:00Z) or Unix seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub until: Option<u64>,
    /// At most this many payments (the newest).
    #[arg(long)]
    pub limit: Option<usize>,
}

impl FilterArgs {
    fn to_filter(&self) -> Filter {
        Filter {
            route: self.route.clone(),
            payer: self.payer.clone(),
            state: self.state,
            since_ms: self.since,
            until_ms: self.until,
            limit: self.limit,
        }
    }
}

/// A time flag as Unix milliseconds: Unix seconds, or RFC 3339.
fn parse_time_ms(text: &str) -> Result<u64, String> {
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
    } else {
        parse_rfc3339_ms(text)
    };
    parsed.ok_or_else(|| "expected RFC 3339 like 2026-12-02T10:00:00Z, or Unix seconds".to_owned())
}

/// The ledger file `config` names (`[ledger].path`, relative to the config file); only that
/// table is read, so no secret the config names has to be set.
pub fn path_from_config(config: &Path) -> anyhow::Result<PathBuf> {
    #[derive(serde::Deserialize)]
    struct OnlyLedger {
        #[serde(default)]
        ledger: Option<toml::Table>,
    }
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let parsed: OnlyLedger =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", config.display()))?;
    let path = parsed
        .ledger
        .as_ref()
        .and_then(|t| t.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or(crate::config::DEFAULT_LEDGER_PATH);
    Ok(config.parent().unwrap_or(Path::new(".")).join(path))
}

/// Runs `ledger list` or `ledger export`; `config` names the ledger unless `--db` does.
pub fn run(args: &LedgerArgs, config: &Path) -> anyhow::Result<()> {
    let filter = match &args.command {
        LedgerCommand::List { filter } | LedgerCommand::Export { filter, .. } => filter,
    };
    let db = match &filter.db {
        Some(db) => db.clone(),
        None => path_from_config(config)?,
    };
    run_on(args, &db)
}

fn run_on(args: &LedgerArgs, db: &Path) -> anyhow::Result<()> {
    match &args.command {
        LedgerCommand::List { filter } => {
            let records = read(filter, db)?;
            let mut out = BufWriter::new(io::stdout().lock());
            ended_by_reader(export::write_table(&records, &mut out).and_then(|()| out.flush()))
                .context("cannot write to standard output")
        }
        LedgerCommand::Export {
            filter,
            format,
            output,
        } => {
            let records = read(filter, db)?;
            match output {
                Some(path) => {
                    let file = File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let mut out = BufWriter::new(file);
                    write_export(*format, &records, &mut out)
                        .and_then(|()| out.into_inner().map_err(io::IntoInnerError::into_error))
                        .and_then(|file| file.sync_all())
                        .with_context(|| format!("cannot write {}", path.display()))
                }
                None => {
                    let mut out = BufWriter::new(io::stdout().lock());
                    ended_by_reader(write_export(*format, &records, &mut out))
                        .context("cannot write to standard output")
                }
            }
        }
    }
}

fn read(filter: &FilterArgs, db: &Path) -> anyhow::Result<Vec<Record>> {
    let reader = Ledger::open_read_only(db)
        .with_context(|| format!("cannot open the ledger {}", db.display()))?;
    reader
        .query(&filter.to_filter())
        .with_context(|| format!("cannot read the ledger {}", db.display()))
}

fn write_export(format: ExportFormat, records: &[Record], out: &mut impl Write) -> io::Result<()> {
    match format {
        ExportFormat::Csv => export::write_csv(records, out),
        ExportFormat::Json => export::write_json(records, out),
    }
}

/// A closed pipe (`ledger list | head`) is the reader's choice, not a failure.
fn ended_by_reader(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::ledger::tests::sample_record;
    use crate::ledger::{LedgerOptions, Moved};

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        ledger: LedgerArgs,
    }

    fn parse(args: &[&str]) -> LedgerArgs {
        TestCli::try_parse_from(std::iter::once("ledger").chain(args.iter().copied()))
            .unwrap()
            .ledger
    }

    #[test]
    fn time_flags_accept_rfc3339_and_unix_seconds() {
        assert_eq!(parse_time_ms("2026-12-02T10:00:00Z"), Ok(1_796_205_600_000));
        assert_eq!(parse_time_ms("1796205600"), Ok(1_796_205_600_000));
        assert!(parse_time_ms("yesterday").is_err());
        assert!(parse_time_ms("").is_err());
        assert!(parse_time_ms("99999999999999999999").is_err());
    }

    #[test]
    fn parses_flags() {
        let args = parse(&[
            "list",
            "--db",
            "x.db",
            "--state",
            "paid_not_delivered",
            "--since",
            "1700000000",
            "--limit",
            "5",
        ]);
        let LedgerCommand::List { filter } = args.command else {
            panic!("not list: {args:?}");
        };
        assert_eq!(filter.state, Some(State::PaidNotDelivered));
        assert_eq!(filter.since, Some(1_700_000_000_000));
        assert_eq!(filter.limit, Some(5));
        assert!(
            TestCli::try_parse_from(["ledger", "list"]).is_ok(),
            "--db defaults from the config"
        );
        assert!(
            TestCli::try_parse_from(["ledger", "list", "--db", "x", "--state", "paid"]).is_err()
        );
        let LedgerCommand::Export { format, output, .. } =
            parse(&["export", "--db", "x.db"]).command
        else {
            panic!("not export");
        };
        assert_eq!((format, output), (ExportFormat::Csv, None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn export_json_to_a_file_has_the_matching_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        let ledger = Ledger::open(LedgerOptions::new(&db)).unwrap();
        for n in 1..=4 {
            ledger.insert(sample_record(n)).await.unwrap();
        }
        for n in [2, 4] {
            let id = sample_record(n).id;
            let moved = ledger.transition(&id, State::Forwarded, None, None).await;
            assert_eq!(moved.unwrap(), Moved::Done);
        }
        let output = dir.path().join("out.json");
        let (db_arg, output_arg) = (db.to_str().unwrap(), output.to_str().unwrap());
        let args = parse(&[
            "export",
            "--db",
            db_arg,
            "--format",
            "json",
            "--output",
            output_arg,
            "--state",
            "forwarded",
        ]);

        let check_export = || {
            let exported: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
            let ids: Vec<&str> = exported
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, [sample_record(4).id, sample_record(2).id]);
            assert_eq!(exported[0]["state"], "forwarded");
            assert!(exported[0]["payload"]["signature"].is_string());
        };

        // While the gateway (the `Ledger`) has the file open, then after it closed it.
        tokio::task::block_in_place(|| run(&args, Path::new("unused.toml"))).unwrap();
        check_export();
        drop(ledger);
        std::fs::remove_file(&output).unwrap();
        run(&args, Path::new("unused.toml")).unwrap();
        check_export();

        let csv = dir.path().join("out.csv");
        run(
            &parse(&["export", "--db", db_arg, "--output", csv.to_str().unwrap()]),
            Path::new("unused.toml"),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 5);
    }
}

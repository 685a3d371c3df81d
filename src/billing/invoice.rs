//! A batch's invoice: its JSON (the webhook's body and the first JSONL line), the JSONL and CSV
//! exports (one line per charged request), and their atomic writes to the export directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::ledger::{Batch, TabLine};
use crate::rfc3339::format_rfc3339_ms;
use crate::toll::usd::MicroUsd;

/// A batch and its lines.
pub struct Invoice<'a> {
    pub batch: &'a Batch,
    pub lines: &'a [TabLine],
    /// `[server] public_url`, under which its pay URL is absolute.
    pub public_url: Option<&'a str>,
}

fn usd(micro: u64) -> String {
    MicroUsd(micro)
        .dollars_text()
        .trim_start_matches('$')
        .to_string()
}

impl Invoice<'_> {
    /// The batch, without its lines.
    pub fn summary(&self) -> serde_json::Value {
        let b = self.batch;
        json!({
            "type": "batch",
            "id": b.id,
            "account": b.account,
            "cutoff": format_rfc3339_ms(b.cutoff_ms),
            "due": format_rfc3339_ms(b.due_ms),
            "lines": b.lines,
            "total_micro_usd": b.total_micro_usd,
            "total_usd": usd(b.total_micro_usd),
            "currency": "USD",
            "paid": b.paid_ms.map(format_rfc3339_ms),
            "paid_by": b.paid_by,
            "pay_url": super::invoice_url(self.public_url, &b.id),
        })
    }

    /// One charged request, as in the JSONL export and the webhook's `items`.
    pub fn line(line: &TabLine) -> serde_json::Value {
        json!({
            "type": "line",
            "batch": line.batch,
            "commitment": line.commitment,
            "at": format_rfc3339_ms(line.created_ms),
            "crawler": line.crawler,
            "route": line.route,
            "method": line.method,
            "url": line.url,
            "status": line.status,
            "amount_micro_usd": line.amount_micro_usd,
            "amount_usd": usd(line.amount_micro_usd),
        })
    }

    /// The webhook's body: the batch with its lines.
    pub fn body(&self) -> Vec<u8> {
        let mut doc = self.summary();
        doc["items"] = self.lines.iter().map(Self::line).collect();
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// The batch on the first line, then one line per charged request.
    pub fn jsonl(&self) -> String {
        let mut out = self.summary().to_string();
        out.push('\n');
        for line in self.lines {
            out.push_str(&Self::line(line).to_string());
            out.push('\n');
        }
        out
    }

    /// One row per charged request, with the batch's id and account on each.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "batch,account,commitment,at,crawler,route,method,url,status,amount_micro_usd,amount_usd\n",
        );
        for l in self.lines {
            let cells = [
                self.batch.id.clone(),
                self.batch.account.clone(),
                l.commitment.clone(),
                format_rfc3339_ms(l.created_ms),
                l.crawler.clone(),
                l.route.clone(),
                l.method.clone(),
                l.url.clone(),
                l.status.to_string(),
                l.amount_micro_usd.to_string(),
                usd(l.amount_micro_usd),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet never
/// runs a crawler-chosen URL as a formula.
fn csv_cell(cell: &str) -> String {
    let guarded = if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The two files of batch `id` in `dir`.
pub fn paths(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{id}.jsonl")),
        dir.join(format!("{id}.csv")),
    )
}

/// Whether both files of `id` are in `dir`.
pub fn exported(dir: &Path, id: &str) -> bool {
    let (jsonl, csv) = paths(dir, id);
    jsonl.is_file() && csv.is_file()
}

/// Writes both files (each to a temporary name, synced, then renamed: a reader never sees half
/// an invoice, and a crash leaves the old file or the new one).
pub fn export(dir: &Path, invoice: &Invoice<'_>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (jsonl, csv) = paths(dir, &invoice.batch.id);
    write_atomically(&jsonl, invoice.jsonl().as_bytes())?;
    write_atomically(&csv, invoice.csv().as_bytes())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        Batch {
            id: "tab-20261202T000000Z-0011223344556677".into(),
            account: "acme".into(),
            cutoff_ms: 1_796_169_600_000,
            due_ms: 1_796_774_400_000,
            lines: 2,
            total_micro_usd: 3500,
            created_ms: 1_796_169_600_500,
            paid_ms: None,
            paid_by: None,
            delivered_ms: None,
            attempts: 0,
        }
    }

    fn line(n: u8, url: &str, amount: u64) -> TabLine {
        TabLine {
            commitment: alloy_primitives::hex::encode([n; 32]),
            account: "acme".into(),
            crawler: "acme-bot".into(),
            route: "docs".into(),
            method: "GET".into(),
            url: url.into(),
            status: 200,
            amount_micro_usd: amount,
            created_ms: 1_796_100_000_000 + u64::from(n),
            batch: Some(batch().id),
        }
    }

    #[test]
    fn the_exports_carry_every_line_and_totals_that_add_up() {
        let b = batch();
        let lines = [
            line(1, "http://site/a", 1500),
            line(2, "http://site/b?x=1,2", 2000),
        ];
        let invoice = Invoice {
            batch: &b,
            lines: &lines,
            public_url: Some("http://site"),
        };
        let jsonl = invoice.jsonl();
        let docs: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["total_usd"], "0.0035");
        assert_eq!(docs[0]["due"], "2026-12-09T00:00:00.000Z");
        let sum: u64 = docs[1..]
            .iter()
            .map(|d| d["amount_micro_usd"].as_u64().expect("amount"))
            .sum();
        assert_eq!(sum, b.total_micro_usd);
        let csv = invoice.csv();
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.contains("\"http://site/b?x=1,2\""), "{csv}");
        let body: serde_json::Value = serde_json::from_slice(&invoice.body()).expect("body");
        assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn a_cell_never_starts_a_formula() {
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_cell("plain"), "plain");
    }

    #[test]
    fn an_export_is_written_whole_and_can_be_written_again() {
        let dir = tempfile::tempdir().expect("dir");
        let b = batch();
        let lines = [line(1, "http://site/a", 3500)];
        let invoice = Invoice {
            batch: &b,
            lines: &lines,
            public_url: None,
        };
        assert!(!exported(dir.path(), &b.id));
        export(dir.path(), &invoice).expect("export");
        export(dir.path(), &invoice).expect("again");
        assert!(exported(dir.path(), &b.id));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no partial files left: {names:?}");
    }
}

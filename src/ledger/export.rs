//! Export of records: CSV for accounting (RFC 4180, without payloads), JSON (everything), and
//! the aligned text table of `x402-gateway ledger list`.

use std::io::{self, Write};

use super::record::Record;
use crate::rfc3339::{format_rfc3339_ms, format_rfc3339_secs};

/// The CSV header, in column order.
pub const CSV_COLUMNS: [&str; 14] = [
    "id",
    "created",
    "state",
    "route",
    "payer",
    "network",
    "asset",
    "amount",
    "nonce",
    "valid_before",
    "transaction",
    "reason",
    "attempts",
    "updated",
];

/// Writes one CSV field, quoted when it holds a comma, a quote, CR or LF (quotes doubled).
fn write_csv_field(out: &mut impl Write, field: &str) -> io::Result<()> {
    if field.contains([',', '"', '\r', '\n']) {
        out.write_all(b"\"")?;
        out.write_all(field.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(field.as_bytes())
    }
}

/// Writes one CSV record terminated by CRLF.
fn write_csv_row<'a>(
    out: &mut impl Write,
    fields: impl IntoIterator<Item = &'a str>,
) -> io::Result<()> {
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        write_csv_field(out, field)?;
    }
    out.write_all(b"\r\n")
}

/// Writes `records` as CSV with a header row ([`CSV_COLUMNS`]); times as RFC 3339 UTC.
/// `payload` and `requirements` are left out (JSON export has them).
pub fn write_csv(records: &[Record], out: &mut impl Write) -> io::Result<()> {
    write_csv_row(out, CSV_COLUMNS)?;
    for record in records {
        let created = format_rfc3339_ms(record.created_ms);
        let updated = format_rfc3339_ms(record.updated_ms);
        let valid_before = record.valid_before.to_string();
        let attempts = record.attempts.to_string();
        write_csv_row(
            out,
            [
                record.id.as_str(),
                &created,
                record.state.as_str(),
                &record.route,
                &record.payer,
                &record.network,
                &record.asset,
                &record.amount,
                &record.nonce,
                &valid_before,
                record.transaction.as_deref().unwrap_or(""),
                record.reason.as_deref().unwrap_or(""),
                &attempts,
                &updated,
            ],
        )?;
    }
    out.flush()
}

/// Writes `records` as a JSON array, one record per line, with `payload` and `requirements` as
/// JSON values.
pub fn write_json(records: &[Record], out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (index, record) in records.iter().enumerate() {
        out.write_all(if index == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, record)?;
    }
    out.write_all(b"\n]\n")?;
    out.flush()
}

/// Control characters would let a stored field drive the terminal: shown as `?`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Prints `records` as left-aligned columns (amount right-aligned), one line each.
pub fn write_table(records: &[Record], out: &mut impl Write) -> io::Result<()> {
    const HEADER: [&str; 7] = [
        "ID",
        "CREATED",
        "STATE",
        "ROUTE",
        "PAYER",
        "AMOUNT",
        "TRANSACTION",
    ];
    const AMOUNT: usize = 5;
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|record| {
            [
                record.id.chars().take(12).collect(),
                format_rfc3339_secs(record.created_ms),
                record.state.as_str().to_owned(),
                printable(&record.route),
                printable(&record.payer),
                printable(&record.amount),
                record
                    .transaction
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), printable),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width - cell.chars().count());
            if column == AMOUNT {
                line.push_str(&pad);
                line.push_str(cell);
            } else if column + 1 == HEADER.len() {
                line.push_str(cell); // no trailing spaces
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::State;
    use crate::ledger::tests::sample_record;

    fn csv_of(fields: &[&str]) -> String {
        let mut out = Vec::new();
        write_csv_row(&mut out, fields.iter().copied()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quotes_only_what_needs_quoting() {
        assert_eq!(
            csv_of(&["plain", "", "with space"]),
            "plain,,with space\r\n"
        );
        assert_eq!(csv_of(&["a,b"]), "\"a,b\"\r\n");
        assert_eq!(csv_of(&["say \"hi\""]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(
            csv_of(&["line\nbreak", "cr\rhere"]),
            "\"line\nbreak\",\"cr\rhere\"\r\n"
        );
        assert_eq!(csv_of(&["\""]), "\"\"\"\"\r\n");
    }

    #[test]
    fn csv_has_header_and_one_row_per_record() {
        let mut record = sample_record(1);
        record.reason = Some("origin said \"no\", twice\nthen left".to_owned());
        record.transaction = None;
        record.state = State::Released;
        let mut out = Vec::new();
        write_csv(&[record.clone()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (header, row) = text.split_once("\r\n").unwrap();
        assert_eq!(header, CSV_COLUMNS.join(","));
        let expected = format!(
            "{},{},released,{},{},{},{},{},{},{},,\"origin said \"\"no\"\", twice\nthen left\",{},{}\r\n",
            record.id,
            format_rfc3339_ms(record.created_ms),
            record.route,
            record.payer,
            record.network,
            record.asset,
            record.amount,
            record.nonce,
            record.valid_before,
            record.attempts,
            format_rfc3339_ms(record.updated_ms),
        );
        assert_eq!(row, expected);
        assert!(
            !text.contains("signature"),
            "payload is not exported to CSV"
        );
    }

    #[test]
    fn json_embeds_payload_and_requirements_as_values() {
        let records = [sample_record(1), sample_record(2)];
        let mut out = Vec::new();
        write_json(&records, &mut out).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let array = parsed.as_array().unwrap();
        assert_eq!(array.len(), 2);
        assert_eq!(array[0]["id"], records[0].id.as_str());
        assert_eq!(array[0]["state"], "reserved");
        assert!(array[0]["payload"].is_object());
        assert!(array[0]["requirements"].is_object());
        assert_eq!(array[1]["chain_id"], 8453);

        let mut empty = Vec::new();
        write_json(&[], &mut empty).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&empty).unwrap(),
            serde_json::json!([])
        );
    }

    #[test]
    fn table_is_aligned_and_shortens_ids() {
        let mut settled = sample_record(2);
        settled.state = State::Settled;
        settled.amount = "1500000".to_owned();
        settled.transaction = Some("0xbeef".to_owned());
        settled.route = "bad\x1b[31mroute".to_owned();
        let mut out = Vec::new();
        write_table(&[settled.clone(), sample_record(1)], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID            CREATED "));
        assert!(lines[1].starts_with(&format!(
            "{}  2023-11-14T22:13:22Z  settled ",
            &settled.id[..12]
        )));
        assert!(lines[1].contains("bad?[31mroute"));
        assert!(lines[1].ends_with("1500000  0xbeef"));
        assert!(lines[2].ends_with("  10000  -"));
        let amount_end = |line: &str| line.find("  0x").or(line.rfind("  -"));
        assert_eq!(
            amount_end(lines[1]),
            amount_end(lines[2]),
            "amounts right-aligned"
        );
    }
}

//! The admin listener's tab endpoints (README "Toll booth"):
//!
//! | request | answer |
//! |---|---|
//! | `GET /tabs` | every configured account: owed (open lines + unpaid batches), credit limit, earliest due date, overdue, suspended |
//! | `GET /tabs/batches[?account=A][&unpaid=true]` | batches, oldest cutoff first |
//! | `GET /tabs/batches/<id>` | one batch with its lines |
//! | `POST /tabs/batches/<id>/paid[?note=…]` | marks it paid (a fiat payment, say); a paid batch keeps its first payment |
//! | `POST /tabs/accounts/<account>/suspend`, `…/resume` | the account's tab takes no lines while suspended (x402 `exact` only, or blocked, as over its limit) |
//! | `POST /tabs/cutoff[?at=<RFC 3339 or Unix ms>][&account=A]` | closes batches now, at `at` (default: now) |
//!
//! With `[admin] token`, every `/tabs` request needs `Authorization: Bearer <token>` (else 401).

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::billing::invoice::Invoice;
use crate::billing::{Billing, invoice_url};
use crate::ledger::{BillingDone, LedgerError};
use crate::rfc3339::{format_rfc3339_ms, parse_rfc3339_ms};

/// SHA-256 of an admin token: what the snapshot keeps and requests are compared by.
pub fn token_digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `authorization` carries the token whose digest is `want` (always, without one).
/// Digests are compared, so the time taken says nothing of the token.
pub fn authorized(want: Option<&[u8; 32]>, authorization: Option<&str>) -> bool {
    let Some(want) = want else { return true };
    authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| token_digest(t) == *want)
}

/// The answer to a `/tabs…` request (`authorization`: its `Authorization` header), or `None`
/// for another path.
pub async fn answer(
    billing: Option<&Billing>,
    method: &str,
    path: &str,
    query: Option<&str>,
    authorization: Option<&str>,
) -> Option<(u16, Value)> {
    if path != "/tabs" && !path.starts_with("/tabs/") {
        return None;
    }
    if let Some(b) = billing
        && !authorized(b.config.snapshot().admin_token.as_ref(), authorization)
    {
        return Some(error(
            401,
            "the /tabs endpoints need `Authorization: Bearer <[admin] token>`",
        ));
    }
    let Some(billing) = billing else {
        return Some(error(
            404,
            "tabs are kept in the ledger, and it is disabled",
        ));
    };
    let params = Params::parse(query.unwrap_or(""));
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let result = match (method, segments.as_slice()) {
        ("GET", []) => accounts(billing),
        ("GET", ["batches"]) => batches(billing, &params),
        ("GET", ["batches", id]) => batch(billing, id),
        ("POST", ["batches", id, "paid"]) => paid(billing, id, &params).await,
        ("POST", ["accounts", account, "suspend"]) => suspend(billing, account, true).await,
        ("POST", ["accounts", account, "resume"]) => suspend(billing, account, false).await,
        ("POST", ["cutoff"]) => cutoff(billing, &params).await,
        (_, []) | (_, ["batches", ..]) | (_, ["accounts", ..]) | (_, ["cutoff"]) => {
            Ok((405, json!({ "error": "method not allowed" })))
        }
        _ => Ok((404, json!({ "error": "not found" }))),
    };
    Some(result.unwrap_or_else(|e| error(503, &e.to_string())))
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "error": message }))
}

/// `a=b&c=d`, percent-decoded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Self(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn accounts(billing: &Billing) -> Result<(u16, Value), LedgerError> {
    let book = &billing.tabs.tabs;
    let now_ms = billing.clock.now_secs().saturating_mul(1000);
    let snapshot = billing.config.snapshot();
    let tabs = snapshot
        .toll
        .as_ref()
        .map(|b| b.tabs.clone())
        .unwrap_or_default();
    let list: Vec<Value> = tabs
        .iter()
        .map(|t| {
            let due = book.earliest_due(&t.account);
            json!({
                "account": &*t.account,
                "signature_agent": t.signature_agent,
                "owed_micro_usd": book.owed(&t.account),
                "credit_limit_micro_usd": t.credit_limit.0,
                "earliest_due": due.map(format_rfc3339_ms),
                "overdue": due.is_some_and(|d| d <= now_ms),
                "suspended": book.is_suspended(&t.account),
            })
        })
        .collect();
    Ok((200, json!({ "accounts": list })))
}

fn batches(billing: &Billing, params: &Params) -> Result<(u16, Value), LedgerError> {
    let Some(ledger) = billing.tabs.tabs.ledger() else {
        return Err(LedgerError::Closed);
    };
    let unpaid = matches!(params.get("unpaid"), Some("true" | "1"));
    let list = ledger.reader().batches(params.get("account"), unpaid)?;
    let docs: Vec<Value> = list.iter().map(|b| batch_doc(billing, b)).collect();
    Ok((200, json!({ "batches": docs })))
}

/// A batch's row, with its invoice URL.
fn batch_doc(billing: &Billing, b: &crate::ledger::Batch) -> Value {
    let mut doc = serde_json::to_value(b).unwrap_or_default();
    let public_url = billing.config.snapshot().public_url.clone();
    doc["pay_url"] = json!(invoice_url(public_url.as_deref(), &b.id));
    doc
}

fn batch(billing: &Billing, id: &str) -> Result<(u16, Value), LedgerError> {
    let Some(ledger) = billing.tabs.tabs.ledger() else {
        return Err(LedgerError::Closed);
    };
    let reader = ledger.reader();
    let Some(b) = reader.batch(id)? else {
        return Ok(error(404, "no such batch"));
    };
    let lines: Vec<Value> = reader.batch_lines(id)?.iter().map(Invoice::line).collect();
    let mut doc = batch_doc(billing, &b);
    doc["items"] = json!(lines);
    Ok((200, doc))
}

async fn paid(billing: &Billing, id: &str, params: &Params) -> Result<(u16, Value), LedgerError> {
    let by = format!("admin: {}", params.get("note").unwrap_or("marked paid"));
    Ok(match billing.tabs.tabs.mark_paid(id, by).await? {
        BillingDone::Paid(newly) => {
            if newly {
                let paid = &billing.metrics.toll.batches_paid;
                paid.with_label_values(&["admin"]).inc();
            }
            (200, json!({ "batch": id, "paid": true, "newly": newly }))
        }
        _ => error(404, "no such batch"),
    })
}

async fn suspend(
    billing: &Billing,
    account: &str,
    suspended: bool,
) -> Result<(u16, Value), LedgerError> {
    let account = percent_decode_str(account).decode_utf8_lossy().into_owned();
    billing.tabs.tabs.suspend(&account, suspended).await?;
    Ok((200, json!({ "account": account, "suspended": suspended })))
}

async fn cutoff(billing: &Billing, params: &Params) -> Result<(u16, Value), LedgerError> {
    let at_ms = match params.get("at") {
        None => billing.clock.now_secs().saturating_mul(1000),
        Some(text) => match text.parse::<u64>().ok().or_else(|| parse_rfc3339_ms(text)) {
            Some(ms) => ms,
            None => return Ok(error(400, "`at` is an RFC 3339 time or Unix milliseconds")),
        },
    };
    let made = billing.close_at(at_ms, params.get("account")).await?;
    let docs: Vec<Value> = made.iter().map(|b| batch_doc(billing, b)).collect();
    Ok((
        200,
        json!({ "cutoff": format_rfc3339_ms(at_ms), "batches": docs }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_opens_the_tab_endpoints() {
        let want = token_digest("s3cret-admin");
        assert!(authorized(None, None), "no token configured");
        assert!(authorized(Some(&want), Some("Bearer s3cret-admin")));
        assert!(!authorized(Some(&want), Some("Bearer wrong")));
        assert!(
            !authorized(Some(&want), Some("s3cret-admin")),
            "not a bearer"
        );
        assert!(!authorized(Some(&want), None));
    }
}

//! The x402 side of a tab: a credit-backed `batch-settlement` offer on the gateway's own network
//! id, in the shape of the x402 Foundation's `cloudflare:402` binding (toll-booth.md §4.2–4.3),
//! and its `PAYMENT-RESPONSE` carrying the line's commitment id.
//!
//! `{"scheme":"batch-settlement","network":"tab:<host>","amount":"<micro-USD>","asset":"USD",
//! "payTo":"merchant","maxTimeoutSeconds":60,"extra":{"version":"1.0.0","decimals":6}}`. Cloudflare
//! counts cents; toll prices are micro-dollars, so the amount is in millionths and `extra.decimals`
//! says so. A crawler accepts it with `PAYMENT-SIGNATURE: base64({"x402Version":2,"accepted":
//! <the offer>,"payload":{"amount","asset":"USD"}})`, the header covered by its Web Bot Auth
//! signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::usd::MicroUsd;

pub const SCHEME: &str = "batch-settlement";
/// The version of the binding's wire shape.
pub const VERSION: &str = "1.0.0";

/// The gateway's own network id for `host`'s tabs.
pub fn network(host: &str) -> String {
    format!("tab:{host}")
}

/// The offer for `price` on `host`.
pub fn offer(host: &str, price: MicroUsd) -> Value {
    json!({
        "scheme": SCHEME,
        "network": network(host),
        "amount": price.0.to_string(),
        "asset": "USD",
        "payTo": "merchant",
        "maxTimeoutSeconds": 60,
        "extra": {"version": VERSION, "decimals": 6},
    })
}

/// A `PAYMENT-REQUIRED` value with `offer` added after the x402 offers; `None` if the value is
/// not a base64 JSON object with `accepts`.
pub fn with_offer(payment_required: &str, offer: Value) -> Option<String> {
    let mut doc: Value = serde_json::from_slice(&STANDARD.decode(payment_required).ok()?).ok()?;
    doc.get_mut("accepts")?.as_array_mut()?.push(offer);
    Some(STANDARD.encode(doc.to_string()))
}

/// A decoded payment that accepts a tab offer on `host`: `None` when it is not one (another
/// scheme or network), `Err` when it is one but malformed.
pub fn read_payment(raw: &Value, host: &str) -> Option<Result<MicroUsd, &'static str>> {
    let accepted = raw.get("accepted")?;
    if accepted.get("scheme")?.as_str()? != SCHEME {
        return None;
    }
    if accepted.get("network").and_then(Value::as_str) != Some(network(host).as_str()) {
        return Some(Err("tab_offer_mismatch"));
    }
    let payload = raw.get("payload");
    let asset = payload.and_then(|p| p.get("asset")).and_then(Value::as_str);
    let amount = payload
        .and_then(|p| p.get("amount"))
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<u64>().ok());
    Some(match (asset, amount) {
        (Some("USD"), Some(micro)) => Ok(MicroUsd(micro)),
        _ => Err("invalid_tab_payment"),
    })
}

/// The `PAYMENT-RESPONSE` of a request charged to a tab.
pub fn response(host: &str, amount: MicroUsd, commitment: &[u8; 32], timestamp: u64) -> String {
    let body = json!({
        "success": true,
        "transaction": "",
        "network": network(host),
        "amount": amount.0.to_string(),
        "asset": "USD",
        "timestamp": timestamp,
        "commitment": alloy_primitives::hex::encode(commitment),
    });
    STANDARD.encode(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_is_added_and_a_payment_for_it_is_read() {
        let required = STANDARD.encode(r#"{"x402Version":2,"accepts":[{"scheme":"exact"}]}"#);
        let offer = offer("site.example", MicroUsd(2_000));
        let added = with_offer(&required, offer.clone()).expect("added");
        let doc: Value =
            serde_json::from_slice(&STANDARD.decode(added).expect("b64")).expect("json");
        assert_eq!(doc["accepts"][1]["network"], "tab:site.example");
        assert_eq!(doc["accepts"][1]["amount"], "2000");
        let pay = json!({"x402Version": 2, "accepted": offer, "payload": {"amount": "2000", "asset": "USD"}});
        assert_eq!(
            read_payment(&pay, "site.example"),
            Some(Ok(MicroUsd(2_000)))
        );
        assert_eq!(
            read_payment(&pay, "other.example"),
            Some(Err("tab_offer_mismatch"))
        );
        let exact = json!({"accepted": {"scheme": "exact"}});
        assert_eq!(read_payment(&exact, "site.example"), None);
        let bad = json!({"accepted": {"scheme": SCHEME, "network": "tab:site.example"}, "payload": {"amount": "two"}});
        assert_eq!(
            read_payment(&bad, "site.example"),
            Some(Err("invalid_tab_payment"))
        );
    }
}

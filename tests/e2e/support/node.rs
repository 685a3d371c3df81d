//! The official clients, run through `tests/harness/pay.mjs` and `sign.mjs`.

use serde::Deserialize;
use serde_json::Value;

use super::harness_dir;

/// What an official client got back.
#[derive(Debug, Deserialize)]
pub struct PayResult {
    pub status: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    pub error: Option<String>,
}

async fn node(script: &str, args: &[String]) -> Value {
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(harness_dir())
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{script} printed {stdout:?} ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Pays `url` with an official client: `"v2"` (`@x402/fetch`) or `"v1"` (legacy `x402-fetch`).
pub async fn pay(client: &str, url: &str, key: &str, extra: &[&str]) -> PayResult {
    let mut args: Vec<String> = ["--client", client, "--url", url, "--key", key]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    serde_json::from_value(node("pay.mjs", &args).await).expect("pay result")
}

/// Pays `url` with the official `client` (`"v2"`: `@x402/fetch`, `"v1"`: `x402-fetch`); the
/// result and its decoded settlement header (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`), `null`
/// when there is none.
pub async fn pay_settled(client: &str, url: &str, key: &str) -> (PayResult, Value) {
    let r = pay(client, url, key, &[]).await;
    let name = if client == "v2" {
        "payment-response"
    } else {
        "x-payment-response"
    };
    let settlement = r
        .headers
        .get(name)
        .map_or(Value::Null, |h| super::decode_b64_json(h));
    (r, settlement)
}

/// A signed payment header for one requirement, without sending it.
#[derive(Debug, Deserialize)]
pub struct Signed {
    pub header: String,
    pub value: String,
}

/// Signs `requirement` (as the server sent it) like the official client; `overrides` are extra
/// `sign.mjs` flags such as `--value 999`.
pub async fn sign(version: u8, key: &str, requirement: &Value, overrides: &[&str]) -> Signed {
    serde_json::from_value(sign_json(version, key, requirement, overrides).await).expect("signed")
}

/// `count` payments for `requirement` from one payer, each with its own nonce (one process).
pub async fn sign_many(version: u8, key: &str, requirement: &Value, count: usize) -> Vec<Signed> {
    let count = count.to_string();
    let signed = sign_json(version, key, requirement, &["--count", count.as_str()]).await;
    serde_json::from_value(signed).expect("signed")
}

async fn sign_json(version: u8, key: &str, requirement: &Value, overrides: &[&str]) -> Value {
    let mut args: Vec<String> = vec![
        "--version".into(),
        version.to_string(),
        "--key".into(),
        key.into(),
        "--requirement".into(),
        requirement.to_string(),
    ];
    args.extend(overrides.iter().map(|s| s.to_string()));
    node("sign.mjs", &args).await
}

/// What `extensions.mjs` (the official extension clients) got back.
#[derive(Debug, Deserialize)]
pub struct ExtensionResult {
    pub status: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    pub error: Option<String>,
    /// `payid`: the payment header sent on the paid retry.
    #[serde(rename = "paymentHeader", default)]
    pub payment_header: Option<String>,
    /// `siwx`: the `SIGN-IN-WITH-X` value made.
    #[serde(rename = "siwxHeader", default)]
    pub siwx_header: Option<String>,
}

/// Runs `extensions.mjs` with `args` (`payid …` or `siwx …`).
pub async fn extensions(args: &[&str]) -> ExtensionResult {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    serde_json::from_value(node("extensions.mjs", &args).await).expect("extensions result")
}

/// Signs a crawler request with npm `web-bot-auth` (`tests/harness/crawler.mjs`): `spec` is its
/// JSON input (`url`, `headers`, `components`, `created`, `expires`, `nonce`, `jwk`); the
/// headers to send come back.
pub async fn crawler_headers(spec: &Value) -> Vec<(String, String)> {
    let out = node("crawler.mjs", &[spec.to_string()]).await;
    out.as_object()
        .expect("crawler.mjs prints an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string header").to_string()))
        .collect()
}

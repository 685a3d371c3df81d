//! The tabs' billing end to end: signed crawlers run up tabs on two accounts; a cutoff (the
//! admin's, at a chosen time) closes one batch per account whose totals equal the ledger's lines,
//! runs again without effect, exports JSONL and CSV, and delivers each batch to a webhook that
//! answers 500, 500, 200 exactly once (signed, one idempotency key); the official `@x402/fetch`
//! client pays an invoice URL, USDC moves on anvil and the batch is marked paid; an overdue or
//! suspended account is offered x402 `exact` only; `kill -9` in the middle of cutoffs loses and
//! duplicates nothing.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::U256;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use x402_gateway::billing::webhook;
use x402_gateway::ledger::{Batch, Ledger, LedgerReader};

use crate::support::crawler::{DirectoryServer, RustCrawler};
use crate::support::webhook::WebhookReceiver;
use crate::support::{
    Gateway, Stack, decode_b64_json, eventually, fresh_address, metric, node, unique_prefix,
};

const SECRET: &str = "tab-hook-secret-for-tests";
/// `[admin] token` of the billing gateways.
const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// `[server] public_url` of the billing gateways: invoices carry absolute pay URLs under it.
const PUBLIC_URL: &str = "https://pay.site.example";

/// A client that sends the admin token.
fn admin_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    headers.insert("authorization", bearer.parse().expect("header"));
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

fn now() -> u64 {
    use x402_gateway::clock::{Clock, SystemClock};
    SystemClock.now_secs()
}

/// One account's crawler: its key directory and signer.
struct Account {
    name: &'static str,
    directory: DirectoryServer,
    crawler: RustCrawler,
}

impl Account {
    fn new(name: &'static str, seed: u8) -> Account {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let directory = DirectoryServer::start(std::slice::from_ref(&key));
        let crawler = RustCrawler::new(key, directory.url());
        Account {
            name,
            directory,
            crawler,
        }
    }

    fn toml(&self, pay_within: &str, hook: &str) -> String {
        format!(
            r#"
[[toll_booth.crawler]]
id = "{name}"
signature_agents = ["{agent}"]
action = "charge"
price = "USD 0.01"

[[toll_booth.tab]]
account = "{name}"
signature_agent = "{agent}"
credit_limit = "USD 1"
pay_within = "{pay_within}"
export_dir = "invoices/{name}"
webhook = {{ url = "{hook}", secret = {{ env = "TAB_HOOK_SECRET" }}, retries = 5, retry_delay = "1s" }}
"#,
            name = self.name,
            agent = self.crawler_agent(),
        )
    }

    fn crawler_agent(&self) -> String {
        self.directory.url()
    }

    /// GETs `url` offering `USD 0.01` on the tab, signed with a fresh `nonce`.
    async fn signed_get(&self, url: &str, nonce: &str) -> reqwest::Response {
        let t = now();
        let exact = [("crawler-exact-price", "USD 0.01")];
        let components = ["@authority", "signature-agent", "crawler-exact-price"];
        let headers =
            self.crawler
                .signed_headers("GET", url, &exact, &components, t, t + 60, Some(nonce));
        let mut req = reqwest::Client::new().get(url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req.send().await.expect("send")
    }

    /// Fetches `url` on the tab: the status.
    async fn fetch(&self, url: &str, nonce: &str) -> u16 {
        self.signed_get(url, nonce).await.status().as_u16()
    }

    /// The status the account's crawler gets now, and the schemes its 402 offers.
    async fn offered(&self, url: &str, nonce: &str) -> (u16, Vec<String>) {
        let r = self.signed_get(url, nonce).await;
        let status = r.status().as_u16();
        let schemes = r
            .headers()
            .get("payment-required")
            .map(|h| decode_b64_json(h.to_str().expect("ascii")))
            .and_then(|d| d["accepts"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|o| o["scheme"].as_str().unwrap_or("").to_string())
            .collect();
        (status, schemes)
    }
}

/// A gateway selling `{prefix}/**` whose toll booth puts `accounts` on tabs.
async fn billing_gateway(
    stack: &Stack,
    prefix: &str,
    accounts: &[&Account],
    pay_within: &str,
    hook: &str,
) -> (Gateway, String) {
    let pay_to = fresh_address();
    let mut routes = format!(
        "[[routes]]\nname = \"articles\"\npath = \"{prefix}/**\"\nprice = \"$0.05\"\n\n\
         [toll_booth]\n\n[toll_booth.web_bot_auth]\n\
         directory = {{ allow_http = true, allow_private_ips = true }}\n"
    );
    for a in accounts {
        routes.push_str(&a.toml(pay_within, hook));
    }
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes)
        .replace(
            "[admin]\n",
            "[admin]\ntoken = { env = \"X402_ADMIN_TOKEN\" }\n",
        )
        .replace(
            "[server]\n",
            &format!("[server]\npublic_url = \"{PUBLIC_URL}\"\n"),
        );
    let gw = Gateway::start_with_env(&config, &ENV).await;
    (gw, pay_to)
}

/// The secrets the billing gateways' configs name.
const ENV: [(&str, &str); 2] = [
    ("TAB_HOOK_SECRET", SECRET),
    ("X402_ADMIN_TOKEN", ADMIN_TOKEN),
];

fn ledger(gw: &Gateway) -> LedgerReader {
    Ledger::open_read_only(&gw.dir.path().join("x402-ledger/payments.sqlite")).expect("ledger")
}

/// `POST /tabs/cutoff?at=<ms>`: the batches it made.
async fn cutoff(gw: &Gateway, at_ms: u64) -> Vec<Value> {
    let r = admin_client()
        .post(gw.admin(&format!("/tabs/cutoff?at={at_ms}")))
        .send()
        .await
        .expect("cutoff");
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    doc["batches"].as_array().cloned().unwrap_or_default()
}

async fn admin_post(gw: &Gateway, path: &str) -> Value {
    let r = admin_client()
        .post(gw.admin(path))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

/// Every line is in at most one batch and each batch's total is the sum of its lines.
fn assert_batches_add_up(reader: &LedgerReader) -> Vec<Batch> {
    let batches = reader.batches(None, false).expect("batches");
    for b in &batches {
        let lines = reader.batch_lines(&b.id).expect("lines");
        let sum: u64 = lines.iter().map(|l| l.amount_micro_usd).sum();
        assert_eq!(
            (lines.len() as u64, sum),
            (b.lines, b.total_micro_usd),
            "{}",
            b.id
        );
    }
    batches
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cutoff_bills_each_account_once_its_webhook_gets_it_once_and_an_x402_client_pays_it() {
    let stack = Stack::shared();
    let prefix = unique_prefix("tab-bill");
    let hook = WebhookReceiver::start(&[500, 500]);
    let (acme, bolt) = (Account::new("acme", 61), Account::new("bolt", 62));
    let (gw, pay_to) = billing_gateway(stack, &prefix, &[&acme, &bolt], "7d", &hook.url()).await;
    for (i, a) in [&acme, &acme, &acme, &bolt].iter().enumerate() {
        let url = gw.url(&format!("{prefix}/page-{i}"));
        assert_eq!(a.fetch(&url, &format!("bill-{i}")).await, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let at = x402_gateway::clock::unix_millis();
    let made = cutoff(&gw, at).await;
    assert_eq!(made.len(), 2, "one batch per account: {made:?}");
    let reader = ledger(&gw);
    let batches = assert_batches_add_up(&reader);
    let totals: BTreeMap<String, (u64, u64)> = batches
        .iter()
        .map(|b| (b.account.clone(), (b.lines, b.total_micro_usd)))
        .collect();
    assert_eq!(totals["acme"], (3, 30_000));
    assert_eq!(totals["bolt"], (1, 10_000));
    assert!(
        reader.open_tabs().expect("open").is_empty(),
        "every line closed"
    );
    assert!(cutoff(&gw, at).await.is_empty(), "the same cutoff again");
    assert!(
        cutoff(&gw, at + 60_000).await.is_empty(),
        "nothing left open"
    );
    assert_eq!(reader.batches(None, false).expect("batches").len(), 2);

    // The invoices, as JSONL and CSV, in each account's export directory.
    for b in &batches {
        let dir = gw.dir.path().join(format!("invoices/{}", b.account));
        let jsonl = std::fs::read_to_string(dir.join(format!("{}.jsonl", b.id))).expect("jsonl");
        let docs: Vec<Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(docs[0]["total_micro_usd"], b.total_micro_usd);
        let pay_url = format!("{PUBLIC_URL}/.well-known/x402/tab/{}", b.id);
        assert_eq!(docs[0]["pay_url"], pay_url.as_str());
        let sum: u64 = docs[1..]
            .iter()
            .map(|d| d["amount_micro_usd"].as_u64().expect("amount"))
            .sum();
        assert_eq!(sum, b.total_micro_usd);
        let csv = std::fs::read_to_string(dir.join(format!("{}.csv", b.id))).expect("csv");
        assert_eq!(csv.lines().count() as u64, b.lines + 1);
    }

    // 500, 500, then 200: each batch is accepted exactly once, signed, under its own key.
    let delivered = eventually(20, || async {
        hook.deliveries()
            .iter()
            .filter(|d| d.answered == 200)
            .count()
            == 2
    })
    .await;
    let seen = hook.deliveries();
    assert!(delivered, "{seen:?}\n{}", gw.log());
    for b in &batches {
        let mine: Vec<(u16, &str)> = seen
            .iter()
            .filter(|d| d.idempotency_key == b.id)
            .map(|d| (d.answered, d.attempt.as_str()))
            .collect();
        assert_eq!(mine, [(500, "1"), (500, "2"), (200, "3")], "{}", b.id);
    }
    for d in &seen {
        assert!(
            webhook::verify(SECRET.as_bytes(), &d.signature, &d.body),
            "signed"
        );
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        hook.deliveries().len(),
        seen.len(),
        "nothing after the 200s"
    );
    let m = gw.metrics().await;
    let acme = Some("account=\"acme\"");
    assert_eq!(metric(&m, "x402_tab_batches_total", acme), 1.0);
    assert_eq!(
        metric(&m, "x402_tab_billed_micro_usd_total", acme),
        30_000.0
    );
    let failed = Some("result=\"failed\"");
    assert_eq!(metric(&m, "x402_tab_webhook_deliveries_total", failed), 4.0);

    // The official client pays acme's invoice; USDC moves; the batch is paid.
    let acme_batch = batches.iter().find(|b| b.account == "acme").expect("acme");
    let invoice = gw.url(&format!("/.well-known/x402/tab/{}", acme_batch.id));
    let r = reqwest::get(&invoice).await.expect("invoice");
    assert_eq!(r.status(), 402);
    let required = decode_b64_json(r.headers()["payment-required"].to_str().expect("ascii"));
    assert_eq!(
        required["accepts"][0]["amount"], "30000",
        "the batch total in USDC"
    );
    let before = stack.usdc_balance(&pay_to).await;
    let paid = node::pay("v2", &invoice, &stack.payer().private_key, &[]).await;
    assert_eq!(paid.status, 200, "{paid:?}\n{}", gw.log());
    assert_eq!(
        stack.usdc_balance(&pay_to).await - before,
        U256::from(30_000u64)
    );
    let b = reader.batch(&acme_batch.id).expect("read").expect("batch");
    assert!(
        b.paid_by
            .as_deref()
            .is_some_and(|p| p.starts_with("x402 eip155:84532 0x")),
        "{b:?}"
    );
    let again = reqwest::get(&invoice).await.expect("invoice");
    assert_eq!(again.status(), 200, "a paid invoice is not sold twice");
    let m = gw.metrics().await;
    let x402 = Some("rail=\"x402\"");
    assert_eq!(metric(&m, "x402_tab_batches_paid_total", x402), 1.0);
    let tabs: Value = admin_client()
        .get(gw.admin("/tabs"))
        .send()
        .await
        .expect("tabs")
        .json()
        .await
        .expect("json");
    let owed: BTreeMap<String, u64> = tabs["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| {
            let name = a["account"].as_str().expect("name").to_string();
            (name, a["owed_micro_usd"].as_u64().expect("owed"))
        })
        .collect();
    assert_eq!(owed["acme"], 0, "paid");
    assert_eq!(owed["bolt"], 10_000, "still owed after its cutoff");
    let missing = reqwest::get(gw.url("/.well-known/x402/tab/tab-nope"))
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overdue_or_suspended_account_is_offered_exact_only_until_it_is_settled() {
    let stack = Stack::shared();
    let prefix = unique_prefix("tab-due");
    let hook = WebhookReceiver::start(&[]);
    let acme = Account::new("acme", 63);
    let (gw, _) = billing_gateway(stack, &prefix, &[&acme], "1s", &hook.url()).await;
    let url = |n: &str| gw.url(&format!("{prefix}/{n}"));
    assert_eq!(acme.fetch(&url("one"), "due-1").await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let made = cutoff(&gw, x402_gateway::clock::unix_millis()).await;
    let id = made[0]["id"].as_str().expect("id").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, schemes) = acme.offered(&url("two"), "due-2").await;
    assert_eq!(status, 402, "overdue: no more on the tab");
    assert!(
        schemes.iter().all(|s| s == "exact") && !schemes.is_empty(),
        "{schemes:?}"
    );
    assert!(stack.origin_log(&format!("{prefix}/two")).await.is_empty());

    let paid = admin_post(
        &gw,
        &format!("/tabs/batches/{id}/paid?note=wire%20transfer"),
    )
    .await;
    assert_eq!(paid["newly"], true);
    assert_eq!(
        acme.fetch(&url("three"), "due-3").await,
        200,
        "settled: the tab again"
    );
    let b = ledger(&gw).batch(&id).expect("read").expect("batch");
    assert_eq!(b.paid_by.as_deref(), Some("admin: wire transfer"));

    admin_post(&gw, "/tabs/accounts/acme/suspend").await;
    let (status, schemes) = acme.offered(&url("four"), "due-4").await;
    assert_eq!(
        (status, schemes.as_slice()),
        (402, ["exact".to_string()].as_slice())
    );
    admin_post(&gw, "/tabs/accounts/acme/resume").await;
    assert_eq!(acme.fetch(&url("five"), "due-5").await, 200);

    // Bad input gets a clear answer, never a crash.
    let client = admin_client();
    let status = |r: reqwest::Response| r.status().as_u16();
    let invoice = gw.url(&format!("/.well-known/x402/tab/{id}"));
    assert_eq!(
        status(client.post(&invoice).send().await.expect("post")),
        405
    );
    assert_eq!(
        status(client.head(&invoice).send().await.expect("head")),
        200,
        "paid"
    );
    // An encoded slash is refused as an ambiguous path before anything else (400).
    for (bad, want) in [("tab-..%2F..%2Fetc", 400), ("tab-nope", 404), ("x", 404)] {
        let r = client
            .get(gw.url(&format!("/.well-known/x402/tab/{bad}")))
            .send()
            .await
            .expect("get");
        assert_eq!(status(r), want, "{bad}");
    }
    let admin = |path: &str| gw.admin(path);
    let cases = [
        ("POST", "/tabs/cutoff?at=yesterday", 400),
        ("POST", "/tabs/batches/tab-nope/paid", 404),
        ("GET", "/tabs/batches/tab-nope", 404),
        ("DELETE", "/tabs/batches", 405),
        ("GET", "/tabs/nothing/here", 404),
    ];
    for (method, path, want) in cases {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = client.request(m, admin(path)).send().await.expect("admin");
        assert_eq!(status(r), want, "{method} {path}");
    }
    // Without the token, or with another: 401, and nothing done.
    for bearer in [None, Some("Bearer not-the-token")] {
        let mut req = reqwest::Client::new().post(admin("/tabs/accounts/acme/suspend"));
        if let Some(b) = bearer {
            req = req.header("authorization", b);
        }
        assert_eq!(status(req.send().await.expect("admin")), 401);
    }
    assert_eq!(acme.fetch(&url("six"), "due-6").await, 200, "not suspended");
    let listed: Value = client
        .get(admin("/tabs/batches?account=acme&unpaid=true"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["batches"].as_array().map(Vec::len), Some(0), "paid");
    let one: Value = client
        .get(admin(&format!("/tabs/batches/{id}")))
        .send()
        .await
        .expect("one")
        .json()
        .await
        .expect("json");
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_cutoffs_loses_nothing_and_duplicates_nothing() {
    let stack = Stack::shared();
    let prefix = unique_prefix("tab-kill");
    let hook = WebhookReceiver::start(&[]);
    let (acme, bolt) = (Account::new("acme", 64), Account::new("bolt", 65));
    let (mut gw, _) = billing_gateway(stack, &prefix, &[&acme, &bolt], "7d", &hook.url()).await;
    let mut charged = 0u64;
    let mut cutoffs = Vec::new();
    for (round, delay_ms) in [0u64, 1, 3, 8, 20].into_iter().enumerate() {
        for (i, a) in [&acme, &bolt, &acme].iter().enumerate() {
            let url = gw.url(&format!("{prefix}/r{round}-{i}"));
            assert_eq!(a.fetch(&url, &format!("kill-{round}-{i}")).await, 200);
            charged += 10_000;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let at = x402_gateway::clock::unix_millis();
        cutoffs.push(at);
        let admin = gw.admin(&format!("/tabs/cutoff?at={at}"));
        let fired = tokio::spawn(async move { admin_client().post(admin).send().await });
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        gw.kill9_and_restart(&ENV).await;
        let _ = fired.await;
    }
    // After the crashes, the same cutoffs again: whatever a killed one did not finish is done now.
    for at in &cutoffs {
        cutoff(&gw, *at).await;
    }
    let reader = ledger(&gw);
    let batches = assert_batches_add_up(&reader);
    let billed: u64 = batches.iter().map(|b| b.total_micro_usd).sum();
    assert_eq!(billed, charged, "every charged line billed exactly once");
    assert!(reader.open_tabs().expect("open").is_empty());
    // A cutoff killed before its write left its lines to the next one: at most one batch per
    // account and cutoff, each holding only lines from before its cutoff.
    let mut seen = BTreeSet::new();
    for b in &batches {
        assert!(cutoffs.contains(&b.cutoff_ms), "{b:?}");
        assert!(
            seen.insert((b.account.clone(), b.cutoff_ms)),
            "two batches: {b:?}"
        );
        let lines = reader.batch_lines(&b.id).expect("lines");
        assert!(lines.iter().all(|l| l.created_ms < b.cutoff_ms), "{b:?}");
    }
    for b in &batches {
        let dir = gw.dir.path().join(format!("invoices/{}", b.account));
        assert!(
            dir.join(format!("{}.jsonl", b.id)).is_file(),
            "{} exported",
            b.id
        );
        assert!(
            dir.join(format!("{}.csv", b.id)).is_file(),
            "{} exported",
            b.id
        );
    }
    let delivered = eventually(20, || async {
        let keys: BTreeSet<String> = hook
            .deliveries()
            .iter()
            .map(|d| d.idempotency_key.clone())
            .collect();
        keys.len() == batches.len()
    })
    .await;
    assert!(delivered, "{:?}", hook.deliveries().len());
    // A delivery answered just before a kill may come again, under the same key and body.
    let mut bodies: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for d in hook.deliveries() {
        let doc: Value = serde_json::from_slice(&d.body).expect("body");
        let mut stable = doc.clone();
        stable["paid"] = Value::Null;
        bodies
            .entry(d.idempotency_key.clone())
            .or_default()
            .insert(serde_json::to_vec(&stable).expect("json"));
    }
    assert!(bodies.values().all(|b| b.len() == 1), "one body per batch");
}

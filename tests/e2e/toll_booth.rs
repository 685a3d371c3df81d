//! The toll booth end to end: crawlers signing with npm `web-bot-auth` and in Rust are verified
//! against a key directory on loopback and charged their own price on a tab in the ledger; every
//! broken signature is refused with Cloudflare's `crawler-error` before the origin sees anything;
//! reverse DNS (dnsmasq on loopback, clients bound to 127.0.0.66) tells a real Googlebot from a
//! spoof; observe mode charges nothing and counts what it would have, to the micro-dollar; the
//! origin's in-band price is charged, capped and stripped; over the credit limit the official
//! `@x402/fetch` client pays the x402 offer and USDC moves on anvil.

use std::net::{IpAddr, Ipv4Addr};

use alloy_primitives::U256;
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::support::crawler::{DirectoryServer, RustCrawler};
use crate::support::dns::{Dnsmasq, Record};
use crate::support::node;
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, metric, unique_prefix};

/// Seconds since the epoch.
fn now() -> u64 {
    use x402_gateway::clock::{Clock, SystemClock};
    SystemClock.now_secs()
}

/// One refusal case: name, headers, the status and `crawler-error` expected.
type Case<'a> = (&'a str, Vec<(String, String)>, u16, &'a str);

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A private Ed25519 JWK for npm `web-bot-auth`.
fn jwk(key: &SigningKey) -> serde_json::Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "d": b64url(&key.to_bytes()),
        "x": b64url(key.verifying_key().as_bytes()),
    })
}

/// A gateway selling `{prefix}/**` at `$0.05` whose toll booth charges the crawler `acme` (signed
/// by `directory`) `USD 0.01` on a tab with `limit`, plus `extra` TOML.
async fn toll_gateway(
    stack: &Stack,
    prefix: &str,
    directory: &str,
    limit: &str,
    extra: &str,
) -> (Gateway, String) {
    let pay_to = fresh_address();
    let routes = format!(
        r#"[[routes]]
name = "articles"
path = "{prefix}/**"
price = "$0.05"

[toll_booth]
{extra}

[toll_booth.web_bot_auth]
directory = {{ allow_http = true, allow_private_ips = true }}

[[toll_booth.crawler]]
id = "acme"
signature_agents = ["{directory}"]
action = "charge"
price = "USD 0.01"

[[toll_booth.crawler]]
id = "gptbot"
user_agents = ["GPTBot"]
action = "charge"
price = "USD 0.02"

[[toll_booth.tab]]
account = "acme"
signature_agent = "{directory}"
credit_limit = "{limit}"
"#
    );
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes);
    (Gateway::start(&config).await, pay_to)
}

/// GETs `url` with `headers`: status, `crawler-error`, `crawler-charged`, `crawler-price`.
async fn get(url: &str, headers: &[(String, String)]) -> (u16, String, String, String) {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("send");
    let h = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_string())
            .unwrap_or_default()
    };
    let out = (
        r.status().as_u16(),
        h("crawler-error"),
        h("crawler-charged"),
        h("crawler-price"),
    );
    assert!(
        r.headers().get("crawler-price").is_none() || out.0 == 402 || out.0 >= 400,
        "an in-band price never reaches the client on a success"
    );
    out
}

/// What `account` owes on its open tab, micro-USD, read from the gateway's ledger.
fn owed(gw: &Gateway, account: &str) -> u64 {
    let reader = x402_gateway::ledger::Ledger::open_read_only(
        &gw.dir.path().join("x402-ledger/payments.sqlite"),
    )
    .expect("ledger");
    reader
        .open_tabs()
        .expect("tabs")
        .into_iter()
        .find(|(a, _)| a == account)
        .map_or(0, |(_, sum)| sum)
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_crawlers_pay_their_price_on_a_tab_and_broken_signatures_never_reach_the_origin() {
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-tab");
    let key = SigningKey::from_bytes(&[41u8; 32]);
    let directory = DirectoryServer::start(std::slice::from_ref(&key));
    let (gw, _) = toll_gateway(stack, &prefix, &directory.url(), "USD 1.00", "").await;
    let rust = RustCrawler::new(key.clone(), directory.url());
    let exact = [("crawler-exact-price", "USD 0.01")];
    let components = ["@authority", "signature-agent", "crawler-exact-price"];
    let t = now();

    // The Rust crawler (dictionary Signature-Agent): charged its own price, one line.
    let url = gw.url(&format!("{prefix}/a1"));
    let signed = rust.signed_headers(
        "GET",
        &url,
        &exact,
        &components,
        t,
        t + 60,
        Some("nonce-a1"),
    );
    let (status, error, charged, _) = get(&url, &signed).await;
    assert_eq!(
        (status, error.as_str(), charged.as_str()),
        (200, "", "USD 0.01")
    );
    let seen = stack.origin_log(&format!("{prefix}/a1")).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["headers"]["x402-crawler"], "acme");
    assert_eq!(
        seen[0]["headers"]["x402-crawler-identity"],
        "verified; method=web_bot_auth"
    );
    assert_eq!(
        seen[0]["headers"]["cf-pay-per-crawl"],
        "protocol=cloudflare, pricing=zone-default"
    );
    assert_eq!(owed(&gw, "acme"), 10_000);

    // The same signed request again (a lost response): served, not charged again.
    let (status, _, charged, _) = get(&url, &signed).await;
    assert_eq!((status, charged.as_str()), (200, "USD 0.01"));
    assert_eq!(owed(&gw, "acme"), 10_000, "one line for one signed request");

    // The npm crawler (legacy Signature-Agent string), pre-emptive with a maximum.
    let url2 = gw.url(&format!("{prefix}/a2"));
    let npm = node::crawler_headers(&json!({
        "url": url2,
        "headers": {"Signature-Agent": format!("\"{}\"", directory.url()), "crawler-max-price": "USD 0.05"},
        "components": ["@authority", "signature-agent", "crawler-max-price"],
        "created": t, "expires": t + 60, "jwk": jwk(&key),
    }))
    .await;
    let (status, _, charged, _) = get(&url2, &npm).await;
    assert_eq!((status, charged.as_str()), (200, "USD 0.01"));
    assert_eq!(owed(&gw, "acme"), 20_000);

    // Refused, and the origin sees none of them.
    let other_key = SigningKey::from_bytes(&[42u8; 32]);
    let stranger = RustCrawler::new(other_key, directory.url());
    let cases: Vec<Case> = vec![
        (
            "tampered",
            {
                let u = gw.url(&format!("{prefix}/bad-tampered"));
                let mut h =
                    rust.signed_headers("GET", &u, &exact, &components, t, t + 60, Some("n-t"));
                for (k, v) in h.iter_mut() {
                    if k.eq_ignore_ascii_case("crawler-exact-price") {
                        *v = "USD 0.001".into();
                    }
                }
                h
            },
            400,
            "InvalidSignature",
        ),
        (
            "expired",
            {
                let u = gw.url(&format!("{prefix}/bad-expired"));
                rust.signed_headers(
                    "GET",
                    &u,
                    &exact,
                    &components,
                    t - 600,
                    t - 540,
                    Some("n-e"),
                )
            },
            400,
            "InvalidSignature",
        ),
        (
            "authority",
            {
                let u = gw
                    .url(&format!("{prefix}/bad-authority"))
                    .replace("127.0.0.1", "evil.example");
                rust.signed_headers("GET", &u, &exact, &components, t, t + 60, Some("n-a"))
            },
            400,
            "InvalidSignature",
        ),
        (
            "unknown-key",
            {
                let u = gw.url(&format!("{prefix}/bad-unknown-key"));
                stranger.signed_headers("GET", &u, &exact, &components, t, t + 60, Some("n-u"))
            },
            400,
            "InvalidSignature",
        ),
        (
            "nonce",
            {
                let u = gw.url(&format!("{prefix}/bad-nonce"));
                rust.signed_headers("GET", &u, &exact, &components, t, t + 60, Some("nonce-a1"))
            },
            400,
            "InvalidSignature",
        ),
        (
            "exact-price",
            {
                let u = gw.url(&format!("{prefix}/bad-exact-price"));
                let p = [("crawler-exact-price", "USD 0.02")];
                rust.signed_headers("GET", &u, &p, &components, t, t + 60, Some("n-p"))
            },
            402,
            "InvalidCrawlerExactPrice",
        ),
        (
            "unsigned-price",
            {
                vec![
                    ("User-Agent".into(), "GPTBot/1.2".into()),
                    ("crawler-exact-price".into(), "USD 0.02".into()),
                ]
            },
            400,
            "StrongAuthRequired",
        ),
        (
            "not-covered",
            {
                let u = gw.url(&format!("{prefix}/bad-not-covered"));
                let mut h = rust.signed_headers(
                    "GET",
                    &u,
                    &[],
                    &["@authority", "signature-agent"],
                    t,
                    t + 60,
                    Some("n-c"),
                );
                h.push(("crawler-exact-price".into(), "USD 0.01".into()));
                h
            },
            400,
            "InvalidSignature",
        ),
    ];
    for (name, headers, want_status, want_error) in cases {
        let url = gw.url(&format!("{prefix}/bad-{name}"));
        let (status, error, charged, price) = get(&url, &headers).await;
        assert_eq!(
            (status, error.as_str()),
            (want_status, want_error),
            "{name}"
        );
        assert_eq!(charged, "", "{name}");
        if want_status == 402 {
            assert_eq!(price, "USD 0.01", "{name}: the 402 quotes the price");
        }
        assert!(
            stack
                .origin_log(&format!("{prefix}/bad-{name}"))
                .await
                .is_empty(),
            "{name}: origin saw it"
        );
    }
    assert_eq!(owed(&gw, "acme"), 20_000, "refusals cost nothing");
    let m = gw.metrics().await;
    assert_eq!(
        metric(&m, "x402_tab_lines_total", Some("result=\"new\"")),
        2.0
    );
    assert_eq!(
        metric(&m, "x402_tab_lines_total", Some("result=\"replay\"")),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "x402_toll_charged_micro_usd_total",
            Some("crawler=\"acme\"")
        ),
        20_000.0
    );
    assert_eq!(
        directory.fetches(),
        1,
        "one directory fetch serves every request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_origin_prices_in_band_capped_by_the_crawlers_maximum_and_never_shown() {
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-in-band");
    let key = SigningKey::from_bytes(&[43u8; 32]);
    let directory = DirectoryServer::start(std::slice::from_ref(&key));
    let (gw, _) = toll_gateway(stack, &prefix, &directory.url(), "USD 1.00", "").await;
    let crawler = RustCrawler::new(key, directory.url());
    let max = [("crawler-max-price", "USD 0.05")];
    let components = ["@authority", "signature-agent", "crawler-max-price"];
    let t = now();
    let run = |path: &str, nonce: &str| {
        let url = gw.url(&format!("{prefix}{path}"));
        let headers =
            crawler.signed_headers("GET", &url, &max, &components, t, t + 60, Some(nonce));
        (url, headers)
    };
    let (url, h) = run("/crawler-price/0.03/x", "ib-1");
    let (status, _, charged, price) = get(&url, &h).await;
    assert_eq!(
        (status, charged.as_str(), price.as_str()),
        (200, "USD 0.03", "")
    );
    let seen = stack
        .origin_log(&format!("{prefix}/crawler-price/0.03"))
        .await;
    assert_eq!(
        seen[0]["headers"]["cf-pay-per-crawl"],
        "protocol=cloudflare, pricing=in-band"
    );
    assert_eq!(
        owed(&gw, "acme"),
        30_000,
        "the origin's price, not the crawler's"
    );

    let (url, h) = run("/crawler-price/0.09/y", "ib-2");
    let (status, error, charged, price) = get(&url, &h).await;
    assert_eq!(
        (status, error.as_str(), charged.as_str(), price.as_str()),
        (402, "InvalidCrawlerMaxPrice", "", "USD 0.09")
    );
    let (url, h) = run("/crawler-price/bad/z", "ib-3");
    let (status, error, _, _) = get(&url, &h).await;
    assert_eq!((status, error.as_str()), (502, "InvalidContentPrice"));
    assert_eq!(
        owed(&gw, "acme"),
        30_000,
        "refused in-band prices cost nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_credit_limit_the_crawler_is_offered_exact_and_paying_it_works() {
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-limit");
    let key = SigningKey::from_bytes(&[44u8; 32]);
    let directory = DirectoryServer::start(std::slice::from_ref(&key));
    let (gw, pay_to) = toll_gateway(stack, &prefix, &directory.url(), "USD 0.01", "").await;
    let crawler = RustCrawler::new(key, directory.url());
    let exact = [("crawler-exact-price", "USD 0.01")];
    let components = ["@authority", "signature-agent", "crawler-exact-price"];
    let t = now();
    let url = gw.url(&format!("{prefix}/first"));
    let h = crawler.signed_headers("GET", &url, &exact, &components, t, t + 60, Some("l-1"));
    assert_eq!(get(&url, &h).await.0, 200);
    assert_eq!(owed(&gw, "acme"), 10_000, "the tab is at its limit");

    let url = gw.url(&format!("{prefix}/second"));
    let h = crawler.signed_headers("GET", &url, &exact, &components, t, t + 60, Some("l-2"));
    let mut req = reqwest::Client::new().get(&url);
    for (k, v) in &h {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("send");
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers()["crawler-error"], "PaymentFailed");
    let required = decode_b64_json(r.headers()["payment-required"].to_str().expect("ascii"));
    let accepts = required["accepts"].as_array().expect("accepts");
    assert!(!accepts.is_empty());
    for offer in accepts {
        assert_eq!(
            offer["scheme"], "exact",
            "only prepaid offers over the limit"
        );
        assert_eq!(
            offer["amount"], "10000",
            "at the crawler's price, 1 USDC per USD"
        );
    }
    assert!(
        stack
            .origin_log(&format!("{prefix}/second"))
            .await
            .is_empty()
    );

    // The official client pays the offer, the crawler's signature riding along.
    let before = stack.usdc_balance(&pay_to).await;
    let args: Vec<String> = h
        .iter()
        .flat_map(|(k, v)| ["--header".to_string(), format!("{k}: {v}")])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let paid = node::pay("v2", &url, &stack.payer().private_key, &args).await;
    assert_eq!(paid.status, 200, "{paid:?}");
    let after = stack.usdc_balance(&pay_to).await;
    assert_eq!(after - before, U256::from(10_000u64), "USDC moved on anvil");
    assert_eq!(owed(&gw, "acme"), 10_000, "paid in USDC, not on the tab");
}

#[tokio::test(flavor = "multi_thread")]
async fn reverse_dns_lets_the_real_googlebot_through_free_and_blocks_a_spoof() {
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-rdns");
    let dns = Dnsmasq::start(&[
        Record::A(
            "crawl-127-0-0-66.googlebot.com",
            Ipv4Addr::new(127, 0, 0, 66),
        ),
        Record::Ptr(
            Ipv4Addr::new(127, 0, 0, 66),
            "crawl-127-0-0-66.googlebot.com",
        ),
        Record::Ptr(Ipv4Addr::new(127, 0, 0, 67), "fake.googlebot.com"),
    ]);
    let extra = format!("[toll_booth.dns]\nnameservers = [\"{}\"]\n", dns.addr());
    let pay_to = fresh_address();
    let routes =
        format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.01\"\n\n[toll_booth]\n{extra}");
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes);
    let gw = Gateway::start(&config).await;
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
            .build()
            .expect("client")
    };
    let real = from([127, 0, 0, 66])
        .get(gw.url(&format!("{prefix}/real")))
        .header("User-Agent", googlebot)
        .send()
        .await
        .expect("send");
    assert_eq!(
        real.status(),
        200,
        "a verified search engine passes free, even on a priced route"
    );
    for (ip, path) in [([127, 0, 0, 1], "spoof-1"), ([127, 0, 0, 67], "spoof-67")] {
        let r = from(ip)
            .get(gw.url(&format!("{prefix}/{path}")))
            .header("User-Agent", googlebot)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(r.headers()["crawler-error"], "CrawlerForbidden");
        assert!(
            stack
                .origin_log(&format!("{prefix}/{path}"))
                .await
                .is_empty()
        );
    }
    assert_eq!(stack.origin_log(&format!("{prefix}/real")).await.len(), 1);
    let m = gw.metrics().await;
    assert_eq!(
        metric(&m, "x402_toll_requests_total", Some("outcome=\"verified\"")),
        1.0
    );
    assert_eq!(
        metric(&m, "x402_toll_requests_total", Some("outcome=\"spoofed\"")),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn observe_mode_blocks_and_charges_nothing_and_counts_the_would_charge_to_the_cent() {
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-observe");
    let pay_to = fresh_address();
    let routes = format!(
        r#"[[routes]]
path = "{prefix}/free/**"
price = "free"

[[routes]]
path = "{prefix}/paid/**"
price = "$0.01"

[toll_booth]
mode = "observe"

[[toll_booth.crawler]]
id = "gptbot"
user_agents = ["GPTBot"]
action = "charge"
price = "USD 0.02"
"#
    );
    let config = Gateway::config(stack, &stack.info.facilitator, &pay_to, &routes);
    let gw = Gateway::start(&config).await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let r = client
            .get(gw.url(&format!("{prefix}/free/{i}")))
            .header("User-Agent", "Mozilla/5.0 (compatible; GPTBot/1.2)")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "observe mode never charges");
        assert!(r.headers().get("crawler-price").is_none());
    }
    let blocked = client
        .get(gw.url(&format!("{prefix}/free/bytespider")))
        .header("User-Agent", "Mozilla/5.0 (Linux; Android 5.0) Bytespider")
        .send()
        .await
        .expect("send");
    assert_eq!(blocked.status(), 200, "observe mode never blocks");
    let priced = client
        .get(gw.url(&format!("{prefix}/paid/x")))
        .header("User-Agent", "GPTBot/1.2")
        .send()
        .await
        .expect("send");
    assert_eq!(priced.status(), 402, "the route still decides");
    assert_eq!(stack.origin_log(&format!("{prefix}/free/")).await.len(), 4);
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "x402_toll_would_charge_micro_usd_total",
            Some("crawler=\"gptbot\"")
        ),
        80_000.0,
        "four GPTBot requests at USD 0.02: $0.08 exactly"
    );
    assert_eq!(
        metric(
            &m,
            "x402_toll_requests_total",
            Some("action=\"block\",crawler=\"bytespider\",method=\"user_agent\",mode=\"observe\"")
        ),
        1.0
    );
    assert_eq!(metric(&m, "x402_toll_charged_micro_usd_total", None), 0.0);

    // What the policy publishes.
    let robots = reqwest::get(gw.url("/robots.txt"))
        .await
        .expect("robots")
        .text()
        .await
        .expect("text");
    assert!(
        robots.contains("User-agent: bytespider\nDisallow: /"),
        "{robots}"
    );
    assert!(
        robots.contains("Content-Signal: search=yes, ai-input=yes, ai-train=no"),
        "{robots}"
    );
    let listed: serde_json::Value = reqwest::get(gw.url("/.well-known/x402"))
        .await
        .expect("x402")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["version"], 1);
    assert!(
        listed["resources"]
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r == &json!(format!("* {prefix}/paid/**"))),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_402_offers_the_tab_and_a_signed_payment_signature_accepting_it_is_charged_there() {
    use base64::Engine;
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-x402-tab");
    let key = SigningKey::from_bytes(&[45u8; 32]);
    let directory = DirectoryServer::start(std::slice::from_ref(&key));
    let (gw, _) = toll_gateway(stack, &prefix, &directory.url(), "USD 1.00", "").await;
    let crawler = RustCrawler::new(key, directory.url());
    let t = now();
    let url = gw.url(&format!("{prefix}/doc"));
    let plain = crawler.signed_headers(
        "GET",
        &url,
        &[],
        &["@authority", "signature-agent"],
        t,
        t + 60,
        Some("x-1"),
    );
    let mut req = reqwest::Client::new().get(&url);
    for (k, v) in &plain {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("send");
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers()["crawler-price"], "USD 0.01");
    let required = decode_b64_json(r.headers()["payment-required"].to_str().expect("ascii"));
    let offers = required["accepts"].as_array().expect("accepts");
    assert_eq!(offers[0]["scheme"], "exact", "x402 exact first");
    assert_eq!(offers[0]["amount"], "10000");
    let tab = offers
        .iter()
        .find(|o| o["scheme"] == "batch-settlement")
        .expect("the tab offer");
    assert_eq!(tab["network"], "tab:127.0.0.1");
    assert_eq!(tab["amount"], "10000");
    assert_eq!(tab["asset"], "USD");

    let payment =
        json!({"x402Version": 2, "accepted": tab, "payload": {"amount": "10000", "asset": "USD"}});
    let payment = base64::engine::general_purpose::STANDARD.encode(payment.to_string());
    let signed = crawler.signed_headers(
        "GET",
        &url,
        &[("payment-signature", &payment)],
        &["@authority", "signature-agent", "payment-signature"],
        t,
        t + 60,
        Some("x-2"),
    );
    let mut req = reqwest::Client::new().get(&url);
    for (k, v) in &signed {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["crawler-charged"], "USD 0.01");
    let response = decode_b64_json(r.headers()["payment-response"].to_str().expect("ascii"));
    assert_eq!(response["success"], true);
    assert_eq!(response["network"], "tab:127.0.0.1");
    let commitment = response["commitment"]
        .as_str()
        .expect("commitment id")
        .to_string();
    let reader = x402_gateway::ledger::Ledger::open_read_only(
        &gw.dir.path().join("x402-ledger/payments.sqlite"),
    )
    .expect("ledger");
    let line = reader
        .tab_line(&commitment)
        .expect("read")
        .expect("the line of that commitment");
    assert_eq!(
        (line.account.as_str(), line.amount_micro_usd, line.status),
        ("acme", 10_000, 200)
    );
    assert_eq!(
        stack.origin_log(&format!("{prefix}/doc")).await.len(),
        1,
        "the 402 did not reach the origin"
    );

    // The payment header not covered by the signature: refused, nothing charged.
    let unsigned = crawler.signed_headers(
        "GET",
        &url,
        &[],
        &["@authority", "signature-agent"],
        t,
        t + 60,
        Some("x-3"),
    );
    let mut req = reqwest::Client::new()
        .get(&url)
        .header("payment-signature", payment.as_str());
    for (k, v) in &unsigned {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["crawler-error"], "InvalidSignature");
    assert_eq!(owed(&gw, "acme"), 10_000);
}

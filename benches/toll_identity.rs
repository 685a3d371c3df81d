//! Benchmarks the toll booth's hot path: who is asking, for a crawler signing with Web Bot Auth
//! whose key is already cached (parse Signature-Input/Signature/Signature-Agent, time checks, the
//! cache lookup, the Ed25519 check), for a user-agent claim with nothing to verify, and for an
//! ordinary unsigned agent; then the policy's decision. The whole-request comparison (402s with
//! the toll booth on and off, side by side with nginx) is `benches/load/run.sh`.
//!
//! Run with: `cargo bench --bench toll_identity -- --warm-up-time 1 --measurement-time 3`
//!
//! ## Results: see `benches/README.md` ("Toll booth").

#[path = "common/config.rs"]
mod config;
#[path = "../tests/e2e/support/crawler.rs"]
mod crawler;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use http::HeaderMap;
use x402_gateway::clock::{Clock, SystemClock};
use x402_gateway::toll::directory::Directories;
use x402_gateway::toll::identity::{Asking, Classifier};
use x402_gateway::toll::signature::Message;

/// The route and toll booth after `common::config::BASE`: `acme` signs with keys at `directory`.
fn toll_booth(directory: &str) -> String {
    format!(
        r#"
[[routes]]
path = "/**"
price = "$0.001"
[toll_booth]
[toll_booth.web_bot_auth]
directory = {{ allow_http = true, allow_private_ips = true }}
[[toll_booth.crawler]]
id = "acme"
signature_agents = ["{directory}"]
action = "charge"
price = "USD 0.002"
"#
    )
}

/// The request as the classifier reads it.
fn asking<'a>(headers: &'a HeaderMap, agent: &'a str, now: u64) -> Asking<'a> {
    Asking {
        message: Message {
            method: "GET",
            scheme: "http",
            authority: "site.example",
            path_and_query: "/articles/1",
            headers,
        },
        user_agent: agent,
        client_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        browser: false,
        now,
    }
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let directory = crawler::DirectoryServer::start(std::slice::from_ref(&key));
    let now = SystemClock.now_secs();
    let snapshot = config::snapshot(&toll_booth(&directory.url()), now, &|_| None);
    let booth = snapshot.toll.as_ref().expect("toll booth");
    let classifier = Classifier {
        directories: Directories::new(booth.directory.clone()),
        resolver: None,
        ip_lists: Default::default(),
    };
    let signer = crawler::RustCrawler::new(key, directory.url());
    let url = "http://site.example/articles/1";
    let signed = crawler::header_map(&signer.signed_headers(
        "GET",
        url,
        &[("crawler-exact-price", "USD 0.002")],
        &["@authority", "signature-agent", "crawler-exact-price"],
        now,
        now + 300,
        Some("bench-nonce"),
    ));
    let claim = crawler::header_map(&[(
        "user-agent".into(),
        "Mozilla/5.0 (compatible; GPTBot/1.2)".into(),
    )]);
    let plain = crawler::header_map(&[("user-agent".into(), "x402-client/2".into())]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let first = rt
        .block_on(classifier.classify(booth, &asking(&signed, "", now)))
        .expect("the signed request verifies");
    assert_eq!(first.crawler.as_ref().map(|c| &*c.id), Some("acme"));
    let mut group = c.benchmark_group("toll_identity");
    group.bench_function("signed, key cached (parse + verify)", |b| {
        b.iter(|| rt.block_on(classifier.classify(booth, black_box(&asking(&signed, "", now)))))
    });
    group.bench_function("user-agent claim, nothing to verify", |b| {
        let agent = "Mozilla/5.0 (compatible; GPTBot/1.2)";
        b.iter(|| rt.block_on(classifier.classify(booth, black_box(&asking(&claim, agent, now)))))
    });
    group.bench_function("unsigned agent (no crawler)", |b| {
        b.iter(|| {
            rt.block_on(
                classifier.classify(booth, black_box(&asking(&plain, "x402-client/2", now))),
            )
        })
    });
    group.bench_function("policy decision", |b| {
        b.iter(|| booth.decide(black_box(&first), "site.example", "/articles/1", None))
    });
    group.finish();
    assert_eq!(directory.fetches(), 1, "every check used the cached key");
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Benchmarks what a pass adds to a request: the token check (base64url + HMAC-SHA256 + expiry),
//! the scope lookup, the use counter, and the whole pass step together; beside them, issuing a
//! pass, and what Sign-In-With-X adds to a 402 (a fresh nonce). The whole-request comparison (a
//! request with a pass vs a free request, same gateway, same run) is `benches/load/run.sh`.
//!
//! Run with: `cargo bench --bench pass_check -- --warm-up-time 1 --measurement-time 3`
//!
//! ## Results: see `benches/README.md` ("Passes").

#[path = "common/config.rs"]
mod config;

use std::hint::black_box;

use alloy_primitives::Address;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::executor::block_on;
use x402_gateway::access::pass::{self, PassClaims};
use x402_gateway::snapshot::Pricing;
use x402_gateway::store::{AccessState, MemoryAccessState};
use x402_gateway::x402::challenge::UNPAID_V2;

/// Routes after `common::config::BASE`.
const ROUTES: &str = r#"
[[routes]]
name = "docs"
path = "/docs/**"
price = "$0.001"
pass = { ttl = "1h" }
[[routes]]
name = "reports"
path = "/reports/**"
price = "$0.001"
sign_in = {}
[[routes]]
name = "plain"
path = "/plain/**"
price = "$0.001"
"#;

fn env(name: &str) -> Option<String> {
    (name == "X402_ACCESS_KEYS").then(|| "bench=bench-access-key-0123456789abcdef".to_string())
}

fn bench(c: &mut Criterion) {
    let snapshot = config::snapshot(ROUTES, 1_000, &env);
    let docs = snapshot
        .routes
        .find("GET", "example.com", "/docs/a")
        .expect("docs route")
        .policy
        .clone();
    let offer = docs.pass.clone().expect("docs sells passes");
    let keys = snapshot.access.keys.clone().expect("keys");
    let claims = PassClaims {
        id: [7; 16],
        expires_at: u64::MAX / 2,
        uses: offer.uses,
        payer: Address::repeat_byte(0xab),
        scope: offer.scope,
    };
    let token = pass::issue(&keys, &claims);
    let state = MemoryAccessState::new();
    let now = 2_000;

    c.bench_function("pass/issue", |b| {
        b.iter(|| black_box(pass::issue(&keys, black_box(&claims))))
    });
    c.bench_function("pass/verify token (base64url + HMAC + expiry)", |b| {
        b.iter(|| black_box(pass::verify(&keys, black_box(&token), now)))
    });
    c.bench_function("pass/scope lookup", |b| {
        b.iter(|| {
            black_box(
                snapshot
                    .access
                    .scopes
                    .get(black_box(&claims.scope))
                    .is_some_and(|s| {
                        s.covers("GET", "example.com", black_box("/docs/guide/intro"))
                    }),
            )
        })
    });
    c.bench_function("pass/take one use (in memory)", |b| {
        b.iter(|| black_box(block_on(state.take_use([7; 16], u32::MAX, u64::MAX / 2))))
    });
    c.bench_function("pass/whole step (verify + scope + use)", |b| {
        b.iter(|| {
            let claims = pass::verify(&keys, black_box(&token), now).expect("valid");
            let in_scope = snapshot
                .access
                .scopes
                .get(&claims.scope)
                .is_some_and(|s| s.covers("GET", "example.com", "/docs/guide/intro"));
            let used = block_on(state.take_use(claims.id, claims.uses, claims.expires_at));
            black_box((in_scope, used))
        })
    });

    let challenge = |path: &str| {
        let route = snapshot
            .routes
            .find("GET", "example.com", path)
            .expect("route")
            .policy
            .clone();
        match &route.pricing {
            Pricing::Paid(_) => route,
            Pricing::Free => panic!("{path} is free"),
        }
    };
    let (reports, plain) = (challenge("/reports/a"), challenge("/plain/a"));
    let url = "https://example.com/reports/a";
    for (name, route) in [
        ("402 header, plain", &plain),
        ("402 header, with sign-in-with-x", &reports),
    ] {
        let Pricing::Paid(ch) = &route.pricing else {
            unreachable!()
        };
        c.bench_function(&format!("siwx/{name}"), |b| {
            b.iter(|| black_box(ch.header_value(black_box(url), UNPAID_V2)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

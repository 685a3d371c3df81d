use base64::Engine;

use super::*;
use crate::price::{Network, known_asset};

fn options() -> Vec<PaymentOption> {
    let net = Network::parse("eip155:84532").unwrap();
    let arb = Network::parse("eip155:42161").unwrap();
    vec![
        PaymentOption {
            asset: known_asset(84532, "USDC").unwrap(),
            network: net,
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".into(),
            amount_atomic: 1000,
            max_timeout_secs: 300,
            max_unsettled_atomic: 1_000_000,
        },
        PaymentOption {
            asset: known_asset(42161, "USDC").unwrap(),
            network: arb,
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".into(),
            amount_atomic: 1000,
            max_timeout_secs: 300,
            max_unsettled_atomic: 1_000_000,
        },
    ]
}

fn decode(b64: &str) -> serde_json::Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn v2_header_has_the_official_shape() {
    let c = Challenge::new(&options(), "Weather data", "application/json", None);
    let h = decode(&c.header_value("http://x/weather?q=1", "Payment required"));
    assert_eq!(h["x402Version"], 2);
    assert_eq!(h["error"], "Payment required");
    assert_eq!(h["resource"]["url"], "http://x/weather?q=1");
    assert_eq!(h["resource"]["description"], "Weather data");
    let first = &h["accepts"][0];
    assert_eq!(first["network"], "eip155:84532");
    assert_eq!(first["amount"], "1000");
    assert_eq!(first["extra"]["name"], "USDC");
    assert_eq!(h["accepts"].as_array().unwrap().len(), 2);
    // key order as the official server emits it
    let raw = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(c.header_value("u", "e"))
            .unwrap(),
    )
    .unwrap();
    let keys = [
        "\"scheme\"",
        "\"network\"",
        "\"amount\"",
        "\"asset\"",
        "\"payTo\"",
        "\"maxTimeoutSeconds\"",
        "\"extra\"",
    ];
    let pos: Vec<usize> = keys.iter().map(|k| raw.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{raw}");
}

#[test]
fn v1_body_lists_only_networks_with_v1_names() {
    let c = Challenge::new(&options(), "d", "text/plain", None);
    let body: serde_json::Value =
        serde_json::from_slice(&c.v1_body("http://x/a", "X-PAYMENT header is required")).unwrap();
    assert_eq!(body["x402Version"], 1);
    let accepts = body["accepts"].as_array().unwrap();
    assert_eq!(accepts.len(), 1);
    assert_eq!(accepts[0]["network"], "base-sepolia");
    assert_eq!(accepts[0]["maxAmountRequired"], "1000");
    assert_eq!(accepts[0]["resource"], "http://x/a");
    assert_eq!(accepts[0]["description"], "d");
    assert_eq!(accepts[0]["mimeType"], "text/plain");
}

#[test]
fn requirements_are_identical_every_time() {
    let a = Challenge::new(&options(), "d", "m", None);
    let b = Challenge::new(&options(), "d", "m", None);
    assert_eq!(a.header_value("u", "e"), b.header_value("u", "e"));
    assert_eq!(a.header_value("u", "e"), a.header_value("u", "e"));
}

#[test]
fn matches_the_echoed_requirement() {
    let c = Challenge::new(&options(), "d", "m", None);
    let mut accepted = (*c.offers()[1].v2_json).clone();
    assert!(std::ptr::eq(c.match_v2(&accepted).unwrap(), &c.offers()[1]));
    // client may add extra keys
    accepted["extra"]["clientHint"] = "x".into();
    assert!(c.match_v2(&accepted).is_some());
    // but may not change a core field or drop our extra
    let mut wrong = (*c.offers()[0].v2_json).clone();
    wrong["amount"] = "1".into();
    assert!(c.match_v2(&wrong).is_none());
    let mut wrong = (*c.offers()[0].v2_json).clone();
    wrong["extra"] = serde_json::json!({"name": "USDC"});
    assert!(c.match_v2(&wrong).is_none());
    assert!(c.match_v2(&serde_json::json!("x")).is_none());
}

#[test]
fn matches_v1_by_scheme_and_network() {
    let c = Challenge::new(&options(), "d", "m", None);
    assert!(c.match_v1("exact", "base-sepolia").is_some());
    assert!(c.match_v1("exact", "base").is_none());
    assert!(c.match_v1("upto", "base-sepolia").is_none());
}

#[test]
fn configured_resource_overrides_request_url() {
    let c = Challenge::new(
        &options(),
        "d",
        "m",
        Some("https://api.example.com/w".into()),
    );
    let h = decode(&c.header_value("http://inner/w", "e"));
    assert_eq!(h["resource"]["url"], "https://api.example.com/w");
}

fn extensions() -> Extensions {
    Extensions {
        payment_identifier: Some(true),
        sign_in: Some(SignInAdvert {
            nonces: Arc::new(Nonces::new(crate::access::Keyring::random())),
            statement: Some("Sign in \"now\"".into()),
            max_age_secs: 300,
        }),
    }
}

#[test]
fn the_precomputed_402_equals_a_full_render() {
    for resource in [None, Some("https://api.example.com/fixed".to_string())] {
        for ext in [Extensions::default(), extensions()] {
            let c = Challenge::with_extensions(
                &options(),
                "Weather \"data\" \u{e9} \u{1}x402-error\u{1}",
                "application/json",
                resource.clone(),
                ext,
            );
            for url in [
                "http://x/a",
                "http://x/a?q=\"quoted\"&u=\u{1F600}",
                "http://h:8402/",
            ] {
                for error in [UNPAID_V2, "invalid_exact_evm_payload_signature"] {
                    let fill = c.fill(c.resource_url(url), error);
                    let fast = decode(&c.template.render(&fill));
                    let full: serde_json::Value =
                        serde_json::from_str(&c.render_json(&fill)).unwrap();
                    assert_eq!(fast, full, "{url}");
                    assert_eq!(fast["error"], error);
                }
                let fast: serde_json::Value =
                    serde_json::from_slice(&c.v1_body(url, UNPAID_V1)).unwrap();
                let full: serde_json::Value =
                    serde_json::from_slice(&c.render_v1(c.resource_url(url), UNPAID_V1)).unwrap();
                assert_eq!(fast, full, "{url}");
            }
        }
    }
}

#[test]
fn extensions_are_advertised_as_the_official_servers_do() {
    let c = Challenge::with_extensions(&options(), "d", "m", None, extensions());
    let h = decode(&c.header_value("http://127.0.0.1:8402/docs/a?x=1", UNPAID_V2));
    let ext = &h["extensions"];
    assert_eq!(ext["payment-identifier"]["info"]["required"], true);
    assert_eq!(
        ext["payment-identifier"]["schema"]["properties"]["id"]["minLength"],
        16
    );
    let info = &ext["sign-in-with-x"]["info"];
    assert_eq!(info["domain"], "127.0.0.1:8402");
    assert_eq!(info["uri"], "http://127.0.0.1:8402/docs/a?x=1");
    assert_eq!(info["resources"][0], "http://127.0.0.1:8402/docs/a?x=1");
    assert_eq!(info["version"], "1");
    assert_eq!(info["statement"], "Sign in \"now\"");
    let nonce = info["nonce"].as_str().unwrap();
    assert_eq!(nonce.len(), 32);
    let issued = info["issuedAt"].as_str().unwrap();
    let SignInAdvert { nonces, .. } = c.extensions().sign_in.clone().unwrap();
    assert!(nonces.check(nonce, issued, "http://127.0.0.1:8402/docs/a?x=1"));
    assert!(!nonces.check(nonce, issued, "http://127.0.0.1:8402/docs/b"));
    // Only the eip155 networks, once each, EIP-191.
    assert_eq!(
        ext["sign-in-with-x"]["supportedChains"],
        serde_json::json!([{"chainId": "eip155:84532", "type": "eip191"}, {"chainId": "eip155:42161", "type": "eip191"}])
    );
    // A fresh nonce per 402.
    let again = decode(&c.header_value("http://127.0.0.1:8402/docs/a?x=1", UNPAID_V2));
    assert_ne!(
        again["extensions"]["sign-in-with-x"]["info"]["nonce"],
        info["nonce"]
    );
    // Without extensions the key is absent, as the official servers omit it.
    let plain = Challenge::new(&options(), "d", "m", None);
    assert!(
        decode(&plain.header_value("u", UNPAID_V2))
            .get("extensions")
            .is_none()
    );
}

#[test]
fn authority_is_the_host_and_port() {
    assert_eq!(authority("http://127.0.0.1:8402/docs?x"), "127.0.0.1:8402");
    assert_eq!(authority("https://a.example"), "a.example");
    assert_eq!(authority("https://a.example?x#y"), "a.example");
}

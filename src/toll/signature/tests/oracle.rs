//! `web-bot-auth` 0.7.0 verifies what we sign and what the draft signed; and how long we take.

use sfv::SerializeValue as _;

use super::super::base::{normalize_authority, split_path};
use super::*;

/// `web-bot-auth` 0.7.0 reads a message through this; it must agree with our base.
struct Oracle<'a>(Message<'a>);

impl web_bot_auth::message_signatures::SignedMessage for Oracle<'_> {
    fn lookup_component(&self, name: &web_bot_auth::components::CoveredComponent) -> Vec<String> {
        use web_bot_auth::components::{
            CoveredComponent as C, DerivedComponent as Dc, HTTPFieldParameters as P,
        };
        let m = &self.0;
        let one = |s: String| vec![s];
        match name {
            C::HTTP(field) => {
                let raw = field_value(m.headers, &field.name).ok().flatten();
                match (raw, field.parameters.0.first()) {
                    (Some(raw), Some(P::Key(k))) => Parser::new(&raw)
                        .parse_dictionary()
                        .ok()
                        .and_then(|d| d.get(k.as_str()).cloned())
                        .and_then(|e| vec![e].serialize_value())
                        .into_iter()
                        .collect(),
                    (raw, _) => raw.into_iter().collect(),
                }
            }
            C::Derived(Dc::Authority { .. }) => one(normalize_authority(m.scheme, m.authority)),
            C::Derived(Dc::Method { .. }) => one(m.method.to_owned()),
            C::Derived(Dc::Path { .. }) => one(split_path(m.path_and_query).0.to_owned()),
            _ => vec![],
        }
    }
}

#[test]
fn web_bot_auth_crate_agrees() {
    use web_bot_auth::keyring::{Algorithm, KeyRing};
    let mut ring = KeyRing::default();
    ring.import_raw(
        TEST_KEYID.into(),
        Algorithm::Ed25519,
        public_key().to_bytes().to_vec(),
    );
    let h = draft_headers(r#"agent2="https://signature-agent.test""#);
    let v =
        web_bot_auth::WebBotAuthVerifier::parse(&Oracle(msg("example.com", &h))).expect("parse");
    assert!(v.verify(&ring, None).is_ok());
    let mut h = headers(&[
        ("signature-agent", r#"agent1="https://crawler.test""#),
        ("crawler-max-price", "USD 1"),
    ]);
    let params = SignParams {
        created: 5,
        expires: 65,
        nonce: None,
        keyid: TEST_KEYID.into(),
        agent_key: Some("agent1".into()),
    };
    let comps = [
        "@authority",
        "@method",
        "@path",
        "signature-agent",
        "crawler-max-price",
    ];
    let (input, sig) = sign(
        &msg("example.com:8080", &h),
        "sig1",
        &comps,
        &params,
        &signing_key(),
    )
    .expect("signs");
    h.insert(
        "signature-input",
        HeaderValue::from_str(&input).expect("input"),
    );
    h.insert("signature", HeaderValue::from_str(&sig).expect("sig"));
    let v = web_bot_auth::WebBotAuthVerifier::parse(&Oracle(msg("example.com:8080", &h)))
        .expect("parse");
    assert!(v.verify(&ring, None).is_ok());
    let v =
        web_bot_auth::WebBotAuthVerifier::parse(&Oracle(msg("example.com", &h))).expect("parse");
    assert!(v.verify(&ring, None).is_err());
}

#[test]
fn parse_and_verify_timing() {
    let h = draft_headers(r#"agent2="https://signature-agent.test""#);
    let key = public_key();
    let n: u32 = if cfg!(debug_assertions) { 100 } else { 5000 };
    let start = std::time::Instant::now();
    for _ in 0..n {
        let sig = parse_ok(&msg("example.com", &h), &ParseOptions::default());
        assert!(sig.verify(&key).is_ok());
    }
    let per = start.elapsed() / n;
    let parse_start = std::time::Instant::now();
    for _ in 0..n {
        assert!(parse(&msg("example.com", &h), &ParseOptions::default()).is_ok());
    }
    println!(
        "parse+verify: {per:?} per request; parse alone: {:?}",
        parse_start.elapsed() / n
    );
}

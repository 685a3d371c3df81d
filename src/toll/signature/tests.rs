//! Vectors from the draft (toll-booth.md §1.5), self-signed legacy requests, time checks, malformed
//! input (`tests/malformed.rs`), and `web-bot-auth` 0.7.0 as an independent oracle for the
//! signature base plus a timing printout (`tests/oracle.rs`).

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue};

mod malformed;
mod oracle;

const X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
const D: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
const DRAFT_INPUT: &str = r#"sig2=("@authority" "signature-agent";key="agent2");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA==";tag="web-bot-auth""#;
const DRAFT_SIG: &str = "sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:";
const LENIENT: ParseOptions = ParseOptions {
    accept_legacy: true,
    allow_http: false,
};

fn public_key() -> VerifyingKey {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(X)
        .expect("x")
        .try_into()
        .expect("32");
    VerifyingKey::from_bytes(&bytes).expect("key")
}

fn signing_key() -> SigningKey {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(D)
        .expect("d")
        .try_into()
        .expect("32");
    SigningKey::from_bytes(&bytes)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    map
}

fn msg<'a>(authority: &'a str, headers: &'a HeaderMap) -> Message<'a> {
    Message {
        method: "GET",
        scheme: "https",
        authority,
        path_and_query: "/path/to/resource",
        headers,
    }
}

fn draft_headers(agent: &str) -> HeaderMap {
    headers(&[
        ("signature-agent", agent),
        ("signature-input", DRAFT_INPUT),
        ("signature", DRAFT_SIG),
    ])
}

fn parse_ok(m: &Message<'_>, opts: &ParseOptions) -> Signature {
    parse(m, opts).expect("parses").expect("signed")
}

#[test]
fn draft_vector_verifies_with_the_rfc_test_key() {
    let h = draft_headers(r#"agent2="https://signature-agent.test""#);
    let sig = parse_ok(&msg("example.com", &h), &ParseOptions::default());
    let expected = format!(
        "\"@authority\": example.com\n\"signature-agent\";key=\"agent2\": \"https://signature-agent.test\"\n\"@signature-params\": {}",
        DRAFT_INPUT.trim_start_matches("sig2=")
    );
    assert_eq!(sig.base(), expected.as_bytes());
    assert_eq!(sig.verify(&public_key()), Ok(()));
    assert_eq!(sig.label, "sig2");
    assert_eq!(sig.agent, AgentKind::Directory);
    assert_eq!(sig.agent_url, "https://signature-agent.test");
    assert_eq!(
        sig.key_url,
        "https://signature-agent.test/.well-known/http-message-signatures-directory"
    );
    assert_eq!(sig.keyid, TEST_KEYID);
    assert_eq!((sig.created, sig.expires), (1_735_689_600, 4_889_289_600));
    assert!(
        sig.nonce
            .as_deref()
            .is_some_and(|n| n.starts_with("n9p433"))
    );
    assert_eq!(sig.covered, ["@authority", "signature-agent"]);
    assert!(sig.covers("Signature-Agent"));
    assert!(!sig.covers("crawler-exact-price"));
    // Upper-case Host with the default port is the same authority.
    let same = parse_ok(&msg("EXAMPLE.com:443", &h), &ParseOptions::default());
    assert_eq!(same.verify(&public_key()), Ok(()));
}

#[test]
fn draft_vector_refuses_other_authority_and_tampered_agent() {
    let h = draft_headers(r#"agent2="https://signature-agent.test""#);
    let evil = parse_ok(&msg("evil.com", &h), &ParseOptions::default());
    assert_eq!(evil.verify(&public_key()), Err(SigError::BadSignature));
    let port = parse_ok(&msg("example.com:8443", &h), &ParseOptions::default());
    assert_eq!(port.verify(&public_key()), Err(SigError::BadSignature));
    let h = draft_headers(r#"agent2="https://evil-agent.test""#);
    let tampered = parse_ok(&msg("example.com", &h), &ParseOptions::default());
    assert_eq!(tampered.verify(&public_key()), Err(SigError::BadSignature));
    // A member parameter is part of the covered member value.
    let h = draft_headers(r#"agent2="https://signature-agent.test";type=directory"#);
    let typed = parse_ok(&msg("example.com", &h), &ParseOptions::default());
    assert_eq!(typed.verify(&public_key()), Err(SigError::BadSignature));
}

fn legacy_request(price: &str) -> (HeaderMap, String, String) {
    let mut h = headers(&[
        ("signature-agent", r#""https://signature-agent.test""#),
        ("crawler-exact-price", price),
    ]);
    let params = SignParams {
        created: 1_900_000_000,
        expires: 1_900_000_060,
        nonce: Some("bm9uY2U=".into()),
        keyid: TEST_KEYID.into(),
        agent_key: None,
    };
    let components = ["@authority", "signature-agent", "crawler-exact-price"];
    let (input, sig) = sign(
        &msg("example.com", &h),
        "sig1",
        &components,
        &params,
        &signing_key(),
    )
    .expect("signs");
    h.insert(
        "signature-input",
        HeaderValue::from_str(&input).expect("input"),
    );
    h.insert("signature", HeaderValue::from_str(&sig).expect("sig"));
    (h, input, sig)
}

#[test]
fn legacy_form_signed_here_verifies_and_covers_the_price() {
    let (h, input, _) = legacy_request("USD 0.01");
    assert!(input.starts_with(
        r#"sig1=("@authority" "signature-agent" "crawler-exact-price");created=1900000000;keyid=""#
    ));
    let sig = parse_ok(&msg("example.com", &h), &LENIENT);
    assert_eq!(sig.verify(&public_key()), Ok(()));
    assert_eq!(sig.agent, AgentKind::Legacy);
    assert!(sig.covers("crawler-exact-price"));
    assert_eq!(sig.nonce.as_deref(), Some("bm9uY2U="));
    let base = String::from_utf8(sig.base().to_vec()).expect("ascii");
    assert!(base.contains("\n\"signature-agent\": \"https://signature-agent.test\"\n"));
    assert!(base.contains("\n\"crawler-exact-price\": USD 0.01\n"));
}

#[test]
fn legacy_form_tampered_price_fails_and_can_be_refused() {
    let (mut h, _, _) = legacy_request("USD 0.01");
    h.insert("crawler-exact-price", HeaderValue::from_static("USD 0.00"));
    let sig = parse_ok(&msg("example.com", &h), &LENIENT);
    assert_eq!(sig.verify(&public_key()), Err(SigError::BadSignature));
    let (h, _, _) = legacy_request("USD 0.01");
    assert!(matches!(
        parse(&msg("example.com", &h), &ParseOptions::default()),
        Err(SigError::Malformed(_))
    ));
}

fn window(created: u64, expires: u64) -> Signature {
    let mut sig = parse_ok(
        &msg(
            "example.com",
            &draft_headers(r#"agent2="https://signature-agent.test""#),
        ),
        &ParseOptions::default(),
    );
    sig.created = created;
    sig.expires = expires;
    sig
}

#[test]
fn check_time_edges() {
    let sig = window(1000, 1060);
    assert_eq!(sig.check_time(1030, 300, 10), Ok(()));
    assert_eq!(sig.check_time(1070, 300, 10), Ok(()), "expired inside skew");
    assert_eq!(
        sig.check_time(991, 300, 10),
        Ok(()),
        "created ahead inside skew"
    );
    assert_eq!(sig.check_time(1071, 300, 10), Err(SigError::Expired));
    assert_eq!(sig.check_time(989, 300, 10), Err(SigError::NotYetValid));
    assert_eq!(
        window(1000, 1301).check_time(1100, 300, 10),
        Err(SigError::WindowTooLong)
    );
    assert_eq!(window(1000, 1300).check_time(1100, 300, 10), Ok(()));
    // The draft vector is valid until 2124 but its window is a century.
    let draft = window(1_735_689_600, 4_889_289_600);
    assert_eq!(
        draft.check_time(1_800_000_000, 300, 10),
        Err(SigError::WindowTooLong)
    );
}

#[test]
fn thumbprint_and_test_key() {
    let x: [u8; 32] = public_key().to_bytes();
    assert_eq!(thumbprint(&x), TEST_KEYID);
    assert!(is_test_key("poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"));
    assert!(!is_test_key(&thumbprint(&[7u8; 32])));
}

#[test]
fn other_agent_types_and_derived_components_round_trip() {
    let agent = r#"a1="https://Keys.Example:443/jwks.json?v=2";type=jwks_uri"#;
    let mut h = headers(&[
        ("signature-agent", agent),
        ("x-multi", " one "),
        ("x-multi", "two"),
    ]);
    fn post(headers: &HeaderMap) -> Message<'_> {
        Message {
            method: "POST",
            scheme: "https",
            authority: "example.com:8443",
            path_and_query: "/a/b?x=1",
            headers,
        }
    }
    let params = SignParams {
        created: 10,
        expires: 70,
        nonce: None,
        keyid: TEST_KEYID.into(),
        agent_key: Some("a1".into()),
    };
    let comps = [
        "@target-uri",
        "@method",
        "@path",
        "@query",
        "@scheme",
        "signature-agent",
        "x-multi",
    ];
    let (input, sig) = sign(&post(&h), "wba", &comps, &params, &signing_key()).expect("signs");
    h.insert(
        "signature-input",
        HeaderValue::from_str(&input).expect("input"),
    );
    h.insert("signature", HeaderValue::from_str(&sig).expect("sig"));
    let m = post(&h);
    let parsed = parse_ok(&m, &ParseOptions::default());
    assert_eq!(parsed.verify(&public_key()), Ok(()));
    assert_eq!(parsed.agent, AgentKind::JwksUri);
    assert_eq!(parsed.key_url, "https://keys.example/jwks.json?v=2");
    let base = String::from_utf8(parsed.base().to_vec()).expect("ascii");
    assert!(base.starts_with("\"@target-uri\": https://example.com:8443/a/b?x=1\n\"@method\": POST\n\"@path\": /a/b\n\"@query\": ?x=1\n\"@scheme\": https\n"));
    assert!(base.contains("\n\"x-multi\": one, two\n"));
    let other = Message { method: "GET", ..m };
    assert_eq!(
        parse_ok(&other, &ParseOptions::default()).verify(&public_key()),
        Err(SigError::BadSignature)
    );
}

#[test]
fn commitment_id_binds_method_and_target() {
    let h = draft_headers(r#"agent2="https://signature-agent.test""#);
    let a = parse_ok(&msg("example.com", &h), &ParseOptions::default());
    let b = parse_ok(&msg("example.com", &h), &ParseOptions::default());
    let target = "https://example.com/path/to/resource";
    assert_eq!(
        a.commitment_id("GET", target),
        b.commitment_id("GET", target)
    );
    assert_ne!(
        a.commitment_id("GET", target),
        a.commitment_id("HEAD", target)
    );
    assert_ne!(
        a.commitment_id("GET", target),
        a.commitment_id("GET", "https://example.com/other")
    );
    // Length prefixes: moving a byte from one field to the next changes the id.
    assert_ne!(
        a.commitment_id("GETh", "ttps://x"),
        a.commitment_id("GET", "https://x")
    );
}

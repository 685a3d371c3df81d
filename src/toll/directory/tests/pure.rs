//! The §1.6 directory self-signature vector, the older Cloudflare form, TTLs and address classes.

use ed25519_dalek::Signer as _;
use http::HeaderMap;

use super::*;

const VECTOR_BODY: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}"#;
const VECTOR_INPUT: &str = r#"binding=("@authority";req "content-digest");created=1735689600;expires=4889289600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";tag="http-message-signatures-directory""#;
const VECTOR_SIG: &str = "binding=:l6P8R67tm3kujAxbHWio7ll01qrEZ0dKD/WWlGhNYEmTnFZM8Wt0VQ9zqGfvo7T/UMkBxsigzChM1Gpz7gOVBg==:";
const VECTOR_DIGEST: &str = "sha-256=:CADMT2aBdV/rqQr/NIru64ERQkCobVvllA4V0fLFDu0=:";

fn header_map(pairs: &[(&'static str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().expect("value")))
        .collect()
}

#[test]
fn draft_directory_self_signature_vector() {
    let keys = document::parse_keys(VECTOR_BODY.as_bytes(), 4, true).expect("keys");
    let h = header_map(&[
        ("content-digest", VECTOR_DIGEST),
        ("signature-input", VECTOR_INPUT),
        ("signature", VECTOR_SIG),
    ]);
    let ok = document::self_signed(
        &h,
        VECTOR_BODY.as_bytes(),
        "signature-agent.test",
        &keys,
        NOW,
    );
    assert!(ok.contains(TEST_KEYID));
    assert!(document::self_signed(&h, VECTOR_BODY.as_bytes(), "evil.test", &keys, NOW).is_empty());
    assert!(
        document::self_signed(&h, b"{\"keys\":[]}", "signature-agent.test", &keys, NOW).is_empty()
    );
    assert!(
        document::self_signed(
            &h,
            VECTOR_BODY.as_bytes(),
            "signature-agent.test",
            &keys,
            1_735_689_600 - 61
        )
        .is_empty(),
        "created in the future"
    );
    let ours = sign_directory(
        VECTOR_BODY.as_bytes(),
        "signature-agent.test",
        "binding",
        1_735_689_600,
        4_889_289_600,
        &test_key(),
    )
    .expect("signs");
    assert_eq!(
        (
            ours.content_digest.as_str(),
            ours.signature_input.as_str(),
            ours.signature.as_str()
        ),
        (VECTOR_DIGEST, VECTOR_INPUT, VECTOR_SIG)
    );
}

#[test]
fn older_cloudflare_form_without_digest_is_accepted() {
    let keys = document::parse_keys(VECTOR_BODY.as_bytes(), 4, true).expect("keys");
    let params = format!(
        r#"("@authority";req);created={};expires={};keyid="{TEST_KEYID}";tag="http-message-signatures-directory""#,
        NOW - 10,
        NOW + 300
    );
    let base = format!("\"@authority\";req: keys.example\n\"@signature-params\": {params}");
    let sig = base64::engine::general_purpose::STANDARD
        .encode(test_key().sign(base.as_bytes()).to_bytes());
    let (input, sig) = (format!("b0={params}"), format!("b0=:{sig}:"));
    let h = header_map(&[("signature-input", &input), ("signature", &sig)]);
    assert!(
        document::self_signed(&h, VECTOR_BODY.as_bytes(), "keys.example", &keys, NOW)
            .contains(TEST_KEYID)
    );
    assert!(
        document::self_signed(&h, VECTOR_BODY.as_bytes(), "keys.example", &keys, NOW + 400)
            .is_empty(),
        "expired"
    );
}

#[test]
fn cache_ttl_clamps_max_age() {
    let l = Limits {
        default_ttl: Duration::from_secs(600),
        max_ttl: Duration::from_secs(3600),
        ..limits()
    };
    let ttl = |cc: &str| {
        document::cache_ttl(&header_map(&[("cache-control", cc)]), &l, MIN_TTL).as_secs()
    };
    assert_eq!(ttl("max-age=120"), 120);
    assert_eq!(ttl("public, max-age=5"), 60);
    assert_eq!(ttl("max-age=999999"), 3600);
    assert_eq!(ttl("no-store"), 60);
    assert_eq!(
        document::cache_ttl(&HeaderMap::new(), &l, MIN_TTL).as_secs(),
        600
    );
}

#[test]
fn address_classes() {
    for private in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "::1",
        "::",
        "fc00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "224.0.0.1",
    ] {
        assert!(!guard::is_public(private.parse().expect("ip")), "{private}");
    }
    for public in [
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(guard::is_public(public.parse().expect("ip")), "{public}");
    }
}

#[test]
fn new_needs_no_runtime() {
    let dirs = Directories::new(Limits::default());
    assert_eq!(dirs.fetches(), 0);
}

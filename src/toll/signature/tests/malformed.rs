//! Malformed signatures are refused with `Malformed`, and random header strings never panic.

use proptest::prelude::*;

use super::*;

fn assert_malformed(pairs: &[(&str, &str)], opts: &ParseOptions) {
    let h = headers(pairs);
    let got = parse(&msg("example.com", &h), opts);
    assert!(
        matches!(got, Err(SigError::Malformed(_))),
        "{pairs:?}: {got:?}"
    );
}

#[test]
fn malformed_inputs_are_refused() {
    let agent = (
        "signature-agent",
        r#"agent2="https://signature-agent.test""#,
    );
    let sig = ("signature", DRAFT_SIG);
    let opts = ParseOptions::default();
    let with_input =
        |input: String| assert_malformed(&[agent, ("signature-input", &input), sig], &opts);
    with_input("sig2=(((garbage".into());
    with_input(DRAFT_INPUT.replace(r#";tag="web-bot-auth""#, ""));
    with_input(DRAFT_INPUT.replace(r#"tag="web-bot-auth""#, r#"tag="other""#));
    with_input(DRAFT_INPUT.replace(r#" "signature-agent";key="agent2""#, ""));
    with_input(DRAFT_INPUT.replace(r#""@authority" "#, ""));
    with_input(DRAFT_INPUT.replace(r#""@authority""#, r#""@authority" "@status""#));
    with_input(DRAFT_INPUT.replace(r#""@authority""#, r#""@authority";req"#));
    with_input(DRAFT_INPUT.replace(r#"alg="ed25519""#, r#"alg="rsa-pss-sha512""#));
    with_input(DRAFT_INPUT.replace(";created=1735689600", ""));
    with_input(DRAFT_INPUT.replace(";expires=4889289600", ";expires=1"));
    with_input(DRAFT_INPUT.replace(r#"keyid="poqk"#, r#"kid="poqk"#));
    with_input(DRAFT_INPUT.replace(r#""@authority""#, r#""@authority" "x-absent""#));
    with_input(DRAFT_INPUT.replace(r#""@authority""#, r#""@authority" "@authority""#));
    with_input(DRAFT_INPUT.replace(r#";key="agent2""#, ""));
    with_input(DRAFT_INPUT.replace(r#"key="agent2""#, r#"key="agent9""#));
    let input = ("signature-input", DRAFT_INPUT);
    assert_malformed(&[agent, input], &opts);
    assert_malformed(&[agent, sig], &opts);
    assert_malformed(&[input, sig], &opts);
    assert_malformed(&[agent, input, ("signature", "sig2=:AAAA:")], &opts);
    assert_malformed(&[agent, input, ("signature", "sig1=:AAAA:")], &opts);
    let http_agent = ("signature-agent", r#"agent2="http://signature-agent.test""#);
    assert_malformed(&[http_agent, input, sig], &opts);
    let h = headers(&[http_agent, input, sig]);
    let allowed = ParseOptions {
        allow_http: true,
        ..opts
    };
    assert!(parse(&msg("example.com", &h), &allowed).is_ok_and(|s| s.is_some()));
    for bad_agent in [
        r#"agent2="https://signature-agent.test/path""#,
        r#"agent2="https://user@signature-agent.test""#,
        r#"agent2="data:application/json,{}""#,
        r#"agent2="https://signature-agent.test";type=weird"#,
        r#"agent2=("https://signature-agent.test")"#,
        "agent2=?1",
        "garbage((",
    ] {
        assert_malformed(&[("signature-agent", bad_agent), input, sig], &opts);
    }
    let unsigned = headers(&[agent]);
    assert!(parse(&msg("example.com", &unsigned), &opts).is_ok_and(|s| s.is_none()));
}

proptest! {
    #[test]
    fn random_headers_never_panic(
        input in prop_oneof!["[ -~]{0,120}", "sig[0-9]=\\(\"@authority\"[ -~]{0,80}\\)[ -~]{0,80}".boxed()],
        sig in prop_oneof!["[ -~]{0,120}", "sig[0-9]=:[A-Za-z0-9+/=]{0,90}:".boxed()],
        agent in prop_oneof!["[ -~]{0,80}", "\"https://[a-z.]{1,20}[ -~]{0,10}\"".boxed(), "[a-z0-9]{1,6}=\"[ -~]{0,30}\"(;type=[a-z_]{0,8})?".boxed()],
        authority in "[ -~]{0,40}",
        path in "[ -~]{0,40}",
    ) {
        let h = headers(&[("signature-input", &input), ("signature", &sig), ("signature-agent", &agent)]);
        let m = Message { method: "GET", scheme: "https", authority: &authority, path_and_query: &path, headers: &h };
        if let Ok(Some(s)) = parse(&m, &LENIENT) {
            let _ = s.verify(&public_key());
            let _ = s.check_time(u64::MAX, u64::MAX, u64::MAX);
        }
        let _ = parse(&Message { authority: &agent, path_and_query: &input, ..m }, &ParseOptions::default());
    }
}

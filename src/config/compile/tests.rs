use std::path::Path;

use super::*;
use crate::config::Severity;

const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

fn env(name: &str) -> Option<String> {
    (name == "TEST_FACILITATOR_TOKEN").then(|| "Bearer secret".to_string())
}

fn ctx() -> CompileContext<'static> {
    CompileContext {
        version: 1,
        now: 1_700_000_000,
        previous: None,
        env: &env,
    }
}

fn compile_text(text: &str) -> Result<Compiled, ConfigError> {
    compile(Path::new("test.toml"), text, &ctx())
}

fn base(routes: &str) -> String {
    format!(
        r#"
[payment]
networks = ["base-sepolia"]
pay_to = "{PAY_TO}"

[origins.api]
addresses = ["127.0.0.1:9"]

{routes}
"#
    )
}

/// The first payment option of the route matching `GET path`, or `None` for a free route.
fn first_offer(c: &Compiled, path: &str) -> Option<crate::x402::challenge::Offer> {
    let m = c
        .snapshot
        .routes
        .find("GET", "example.com", path)
        .expect("a route");
    match &m.policy.pricing {
        crate::snapshot::Pricing::Paid(ch) => Some(ch.offers()[0].clone()),
        crate::snapshot::Pricing::Free => None,
    }
}

fn errors(text: &str) -> Vec<crate::config::Finding> {
    match compile_text(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e
            .findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect(),
    }
}

#[test]
fn shipped_gateway_toml_compiles() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
    let compiled = crate::config::load(&path, &ctx()).unwrap_or_else(|e| panic!("{e}"));
    assert!(compiled.snapshot.routes.len() >= 2);
    assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
}

#[test]
fn a_priced_route_compiles_to_exact_requirements() {
    let c = compile_text(&base(
        r#"[[routes]]
path = "/weather"
methods = ["GET"]
price = "$0.001"
description = "Weather"
"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let o = first_offer(&c, "/weather").expect("priced");
    assert_eq!(o.v2.amount, "1000");
    assert_eq!(o.v2.network, "eip155:84532");
    assert_eq!(o.v2.asset, "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
    assert_eq!(o.v2.pay_to, PAY_TO);
    assert_eq!(o.v2.max_timeout_seconds, 300);
    // GET routes answer HEAD too
    assert!(
        c.snapshot
            .routes
            .find("HEAD", "example.com", "/weather")
            .is_some()
    );
    assert!(
        c.snapshot
            .routes
            .find("POST", "example.com", "/weather")
            .is_none()
    );
}

#[test]
fn prices_in_tokens_and_atomic_units() {
    let c = compile_text(&base(
        r#"[[routes]]
path = "/a"
price = "0.25 USDC"
[[routes]]
path = "/b"
price = 42
[[routes]]
path = "/c"
price = "free"
"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let amount = |p: &str| first_offer(&c, p).map(|o| o.v2.amount);
    assert_eq!(amount("/a").as_deref(), Some("250000"));
    assert_eq!(amount("/b").as_deref(), Some("42"));
    assert_eq!(amount("/c"), None);
}

#[test]
fn every_error_is_reported_with_line_and_column() {
    let text = base(
        r#"[[routes]]
path = "/a"
price = "$0.0000001"
[[routes]]
path = "/b"
price = "$1"
origin = "nope"
"#,
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].message.contains("smallest"), "{}", errs[0]);
    assert_eq!(errs[0].line, 11);
    assert_eq!(errs[0].column, 9);
    assert!(errs[1].message.contains("no origin `nope`"), "{}", errs[1]);
    assert!(
        errs[1].to_string().starts_with("test.toml:15:"),
        "{}",
        errs[1]
    );
}

#[test]
fn syntax_errors_have_positions() {
    let errs = errors("[server]\nlisten = [\"127.0.0.1:1\"\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].line >= 2, "{}", errs[0]);
    let errs = errors("[server]\nlisen = []\n");
    assert!(errs[0].message.contains("unknown field"), "{}", errs[0]);
    assert_eq!((errs[0].line, errs[0].column), (2, 1));
}

#[test]
fn pay_to_checksum_is_enforced() {
    let bad = base("").replace(PAY_TO, "0x209693bc6afc0C5328bA36FaF03C514EF312287C");
    let errs = errors(&format!(
        "{bad}\n[[routes]]\npath = \"/x\"\nprice = \"$1\"\n"
    ));
    assert!(
        errs.iter().any(|e| e.message.contains("checksum")),
        "{errs:?}"
    );
    let lower = base("").replace(PAY_TO, &PAY_TO.to_lowercase());
    let c = compile_text(&format!(
        "{lower}\n[[routes]]\npath = \"/x\"\nprice = \"$1\"\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let o = first_offer(&c, "/x").expect("priced");
    assert_eq!(o.v2.pay_to, PAY_TO, "normalized to checksum");
}

#[test]
fn shadowed_routes_are_warned_about() {
    let c = compile_text(&base(
        r#"[[routes]]
path = "/api/**"
price = "$1"
[[routes]]
path = "/api/weather"
price = "$2"
"#,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].message.contains("can never match"),
        "{}",
        c.warnings[0]
    );
}

#[test]
fn facilitator_headers_come_from_the_environment() {
    let ok = format!(
        "{}\n[facilitator.headers]\nAuthorization = {{ env = \"TEST_FACILITATOR_TOKEN\" }}\n",
        base("")
    );
    let c = compile_text(&ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.snapshot.facilitator.settings().headers[0].1,
        "Bearer secret"
    );
    let missing = format!(
        "{}\n[facilitator.headers]\nAuthorization = {{ env = \"UNSET_VAR_X402\" }}\n",
        base("")
    );
    assert!(errors(&missing)[0].message.contains("UNSET_VAR_X402"));
}

#[test]
fn mutated_configs_never_panic() {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml"))
            .unwrap();
    let text = shipped.replace("deploy/demo-site", env!("CARGO_MANIFEST_DIR"));
    let mut state = 11u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB)
    };
    let inserts = [
        "\"",
        "[",
        "]",
        "=",
        "\n",
        "$",
        "0.",
        "**",
        ":p",
        "eip155:",
        "0x",
        "-",
        "\u{1F600}",
        "[[routes]]\n",
    ];
    for _ in 0..1500 {
        let mut t: Vec<char> = text.chars().collect();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % t.len() as u64) as usize;
            if next() % 2 == 0 {
                t.remove(at);
            } else {
                let ins = inserts[(next() % inserts.len() as u64) as usize];
                for (i, c) in ins.chars().enumerate() {
                    t.insert(at + i, c);
                }
            }
        }
        let mutated: String = t.into_iter().collect();
        if let Err(e) = compile_text(&mutated) {
            assert!(
                e.findings.iter().any(|f| f.severity == Severity::Error),
                "an error without findings"
            );
        }
    }
}

#[test]
fn a_price_without_a_network_is_an_error() {
    let text = format!(
        "[payment]\npay_to = \"{PAY_TO}\"\n[origins.a]\naddresses = [\"127.0.0.1:9\"]\n[[routes]]\npath = \"/x\"\nprice = \"$1\"\n"
    );
    assert!(errors(&text)[0].message.contains("no network"));
}

#[test]
fn a_bad_ca_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (file, expected) in [
        (dir.path().join("missing.pem"), "cannot read CA file"),
        (not_pem, "holds no PEM certificate"),
    ] {
        let text = base("").replace(
            "addresses = [\"127.0.0.1:9\"]",
            &format!(
                "addresses = [\"127.0.0.1:9\"]\ntls = true\nca_file = \"{}\"",
                file.display()
            ),
        );
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.message.contains(expected)),
            "{errs:?}"
        );
    }
}

#[test]
fn tls_listeners_need_readable_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:8402\"]\n[[server.tls]]\nlisten = \"127.0.0.1:8443\"\ncert = \"{0}/nope.pem\"\nkey = \"{0}/nope.key\"\n",
        dir.path().display()
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.message.contains("certificate chain") && e.line == 5),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.message.contains("private key") && e.line == 6),
        "{errs:?}"
    );
}

#[test]
fn mixed_mainnet_and_testnet_options_are_refused_naming_both() {
    let two = |extra: &str| {
        base(&format!(
            "[[routes]]\npath = \"/r\"\nprice = \"$0.01\"\n{extra}\n[[routes.accepts]]\nnetwork = \"eip155:8453\"\n[[routes.accepts]]\nnetwork = \"eip155:84532\"\n"
        ))
    };
    let errs = errors(&two(""));
    assert!(
        errs.iter().any(|e| e.message.contains("eip155:8453")
            && e.message.contains("eip155:84532")
            && e.message.contains("allow_mixed_networks")),
        "{errs:?}"
    );
    assert!(compile_text(&two("allow_mixed_networks = true")).is_ok());
    // the [payment] defaults too
    let defaults = base("[[routes]]\npath = \"/r\"\nprice = \"$0.01\"\n")
        .replace("[\"base-sepolia\"]", "[\"base\", \"base-sepolia\"]");
    let errs = errors(&defaults);
    assert!(
        errs.iter().any(|e| e.message.contains("`[payment]`")),
        "{errs:?}"
    );
    let allowed = defaults.replace("[payment]\n", "[payment]\nallow_mixed_networks = true\n");
    assert!(compile_text(&allowed).is_ok());
}

#[test]
fn a_priced_route_leaving_methods_to_a_free_route_is_warned_about() {
    let c = compile_text(&base(
        "[[routes]]\nname = \"paid\"\nmethods = [\"GET\"]\npath = \"/p/**\"\nprice = \"$0.01\"\n[[routes]]\nname = \"free\"\npath = \"/**\"\nprice = \"free\"\n",
    ))
    .unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.message.contains("`paid`") && w.message.contains("`free`")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn free_methods_price_every_other_method() {
    let c = compile_text(&base(
        "[[routes]]\npath = \"/p/**\"\nprice = \"$0.01\"\nfree_methods = [\"options\", \"GET\"]\n",
    ))
    .unwrap();
    let m = c
        .snapshot
        .routes
        .find("DELETE", "h", "/p/x")
        .expect("route");
    assert_eq!(m.policy.free_methods, ["OPTIONS", "GET", "HEAD"]);
    let errs = errors(&base(
        "[[routes]]\nmethods = [\"GET\"]\npath = \"/p/**\"\nprice = \"$0.01\"\nfree_methods = [\"POST\"]\n",
    ));
    assert!(
        errs.iter().any(|e| e.message.contains("free_methods")),
        "{errs:?}"
    );
}

#[test]
fn literals_fold_case_unless_the_route_or_server_says_otherwise() {
    let routes = "[[routes]]\npath = \"/Paid/**\"\nprice = \"$0.01\"\n[[routes]]\npath = \"/Exact/**\"\nprice = \"$0.01\"\ncase_sensitive = true\n";
    let c = compile_text(&base(routes)).unwrap();
    assert!(first_offer(&c, "/PAID/x").is_some());
    assert!(c.snapshot.routes.find("GET", "h", "/exact/x").is_none());
    let strict = base(routes).replace("[payment]", "[server]\ncase_sensitive = true\n\n[payment]");
    let c = compile_text(&strict).unwrap();
    assert!(c.snapshot.routes.find("GET", "h", "/PAID/x").is_none());
    assert!(!c.snapshot.request_rules.host_scoped);
}

#[test]
fn cdp_auth_reads_its_key_from_the_environment_and_never_quotes_it() {
    let text = base("").replace(
        "[payment]",
        "[facilitator]\nauth = \"cdp\"\ncdp_key_id = { env = \"TEST_FACILITATOR_TOKEN\" }\n\n[payment]",
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.message.contains("CDP_API_KEY_SECRET")),
        "{errs:?}"
    );
    // the test environment answers TEST_FACILITATOR_TOKEN with "Bearer secret": not a key
    let bad = text.replace(
        "\nauth = \"cdp\"\n",
        "\nauth = \"cdp\"\ncdp_key_secret = { env = \"TEST_FACILITATOR_TOKEN\" }\n",
    );
    let errs = errors(&bad);
    assert!(
        errs.iter()
            .any(|e| e.message.contains("TEST_FACILITATOR_TOKEN")),
        "{errs:?}"
    );
    assert!(
        errs.iter().all(|e| !e.message.contains("Bearer secret")),
        "{errs:?}"
    );
    let unknown = text.replace("auth = \"cdp\"", "auth = \"oauth\"");
    assert!(
        errors(&unknown)
            .iter()
            .any(|e| e.message.contains("`oauth`"))
    );
}

#[test]
fn passes_need_keys_sign_in_needs_the_ledger_and_values_are_checked() {
    let route =
        |extra: &str| format!("[[routes]]\npath = \"/d/**\"\nprice = \"$0.001\"\n{extra}\n");
    let e = errors(&base(&route("pass = { ttl = \"10m\" }")));
    assert!(
        e.iter().any(|f| f.message.contains("X402_ACCESS_KEYS")),
        "{e:?}"
    );
    let e = errors(&base(&format!(
        "[ledger]\nenabled = false\n\n{}",
        route("sign_in = {}")
    )));
    assert!(e.iter().any(|f| f.message.contains("`sign_in`")), "{e:?}");
    let e = errors(&base(&route("payment_identifier = \"always\"")));
    assert!(
        e.iter().any(|f| f.message.contains("payment_identifier")),
        "{e:?}"
    );
    let e = errors(&base(&route("sign_in = { paid_within = \"a while\" }")));
    assert!(
        e.iter().any(|f| f.message.contains("not a duration")),
        "{e:?}"
    );
    let short = errors(&base(&format!(
        "[access]\nkeys = {{ env = \"TEST_FACILITATOR_TOKEN\" }}\n\n{}",
        route("")
    )));
    assert!(
        short.iter().any(|f| f.message.contains("access keys")),
        "{short:?}"
    );
    let leaked = short.iter().any(|f| f.message.contains("Bearer secret"));
    assert!(!leaked, "a secret in a message: {short:?}");
}

#[test]
fn pass_routes_compile_to_scopes_and_advertise_their_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "k1=0123456789abcdef0123456789abcdef\n").unwrap();
    let text = base(&format!(
        "[access]\nkeys_file = \"{}\"\n\n\
         [[routes]]\npath = \"/docs/**\"\nprice = \"$0.001\"\npass = {{ ttl = \"10m\", uses = 5 }}\n\
         payment_identifier = \"required\"\nsign_in = {{ paid_within = \"2h\" }}\n",
        keys.display()
    ));
    let c = compile_text(&text).unwrap_or_else(|e| panic!("{e}"));
    let m = c
        .snapshot
        .routes
        .find("GET", "example.com", "/docs/a")
        .expect("route");
    let route = &m.policy;
    let pass = route.pass.clone().expect("pass");
    assert_eq!(
        (pass.ttl_secs, pass.uses, pass.cookie_path.as_str()),
        (600, 5, "/docs")
    );
    assert!(c.snapshot.access.scopes[&pass.scope].covers("GET", "any.host", "/docs/x/y"));
    assert!(!c.snapshot.access.scopes[&pass.scope].covers("GET", "any.host", "/other"));
    assert_eq!(route.payment_id, Some(true));
    assert_eq!(route.sign_in.map(|s| s.paid_within_secs), Some(7200));
    let crate::snapshot::Pricing::Paid(ch) = &route.pricing else {
        panic!("priced")
    };
    assert_eq!(ch.extensions().payment_identifier, Some(true));
    assert!(ch.extensions().sign_in.is_some());
    assert_eq!(
        c.snapshot.access.keys.as_ref().map(|k| k.signer().0),
        Some("k1")
    );
}

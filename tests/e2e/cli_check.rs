//! `x402-gateway check`: exit 0 on a good file; on a broken one, every error with file:line:column.

use std::process::Command;

fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_x402-gateway"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        text.replace(&dir.path().display().to_string(), "DIR"),
    )
}

#[test]
fn check_reports_every_error_with_line_and_column() {
    let (code, out) = check(
        "[payment]\nnetworks = [\"eip155:84532\"]\npay_to = \"0xnot-an-address\"\n\n[origins.a]\naddresses = [\"127.0.0.1:9\"]\n\n[[routes]]\npath = \"/a\"\nprice = \"$0.0000001\"\n",
    );
    assert_ne!(code, 0);
    assert!(out.contains("DIR/broken.toml:3:10: error:"), "{out}");
    assert!(out.contains("not an EVM address"), "{out}");
    assert!(out.contains("DIR/broken.toml:10:9: error:"), "{out}");
    assert!(out.contains("2 error(s)"), "{out}");
}

#[test]
fn check_reports_syntax_errors_with_line_and_column() {
    let (code, out) = check("[server]\nlisten = [\"127.0.0.1:1\"\nthreads = 2\n");
    assert_ne!(code, 0);
    assert!(out.contains("DIR/broken.toml:"), "{out}");
}

#[test]
fn check_accepts_the_shipped_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_x402-gateway"))
        .arg("check")
        .arg(path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 4 routes"));
}

#[test]
fn check_refuses_mixed_mainnet_and_testnet_options_unless_allowed() {
    let config = |allow: &str| {
        format!(
            "[payment]\nnetworks = [\"eip155:8453\", \"eip155:84532\"]\npay_to = \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n{allow}\n[origins.a]\naddresses = [\"127.0.0.1:9\"]\n\n[[routes]]\npath = \"/a/**\"\nprice = \"$0.01\"\n"
        )
    };
    let (code, out) = check(&config(""));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("eip155:8453 (mainnet)") && out.contains("eip155:84532 (testnet)"),
        "{out}"
    );
    assert!(out.contains("allow_mixed_networks"), "{out}");
    let (code, out) = check(&config("allow_mixed_networks = true"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn check_warns_when_a_free_route_catches_the_methods_a_priced_route_leaves_out() {
    let (code, out) = check(
        "[payment]\nnetworks = [\"eip155:84532\"]\npay_to = \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\n\n[origins.a]\naddresses = [\"127.0.0.1:9\"]\n\n[[routes]]\nname = \"paid\"\nmethods = [\"GET\"]\npath = \"/paid/**\"\nprice = \"$0.01\"\n\n[[routes]]\nname = \"rest\"\npath = \"/**\"\nprice = \"free\"\n",
    );
    assert_eq!(code, 0, "a warning, not an error: {out}");
    assert!(out.contains("warning:") && out.contains("`rest`"), "{out}");
}

/// The README's complete toll booth example (its `[payment]` placeholder filled in, beside a
/// server, a facilitator and an origin) passes `check`.
#[test]
fn the_readme_toll_booth_example_passes_check() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = &readme[readme.find("### Toll booth").expect("toll booth section")..];
    let start = section.find("```toml\n").expect("example") + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").expect("end")];
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("ranges")).expect("ranges");
    std::fs::write(
        dir.path().join("ranges/googlebot.json"),
        r#"{"prefixes":[{"ipv4Prefix":"66.249.64.0/27"}]}"#,
    )
    .expect("ranges");
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:8402\"]\ndefault_origin = \"origin\"\n\n\
         [facilitator]\nurl = \"http://127.0.0.1:1\"\n\n\
         [origins.origin]\naddresses = [\"127.0.0.1:9000\"]\n\n{}",
        example.replace(
            "0xYourAddress",
            "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        )
    );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_x402-gateway"))
        .arg("check")
        .arg(&path)
        .env("TAB_WEBHOOK_SECRET", "example-secret")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

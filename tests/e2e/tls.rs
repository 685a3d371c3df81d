//! TLS on both sides: https origins (system roots, a private CA file, or verification off), and
//! the gateway's own HTTPS listeners, whose 402s name an `https://` resource.

use crate::support::gateway::free_port;
use crate::support::tls::{TestCa, TlsOrigin, wait_for_port};
use crate::support::{Gateway, Stack, decode_b64_json, fresh_address, unique_prefix};

#[tokio::test]
async fn https_origins_are_reached_over_tls_and_verified_by_default() {
    let stack = Stack::shared();
    let origin = TlsOrigin::start();
    let routes = |extra: &str| {
        format!(
            "[origins.secure]\naddresses = [\"127.0.0.1:{}\"]\ntls = true\nsni = \"origin.test\"\n{extra}\n\n[[routes]]\nname = \"secure\"\npath = \"/secure/**\"\nprice = \"free\"\norigin = \"secure\"\n",
            origin.port
        )
    };
    let get = |gw: &Gateway| {
        let url = gw.url("/secure/a?x=1");
        async move { reqwest::get(url).await.expect("get") }
    };
    // verified against the system roots (the default): a private CA's certificate is refused
    let gw = Gateway::start_with(stack, &fresh_address(), &routes("")).await;
    assert_eq!(
        get(&gw).await.status(),
        502,
        "an unverifiable origin must not be used"
    );
    drop(gw);
    // verified against the origin's own CA: served
    let with_ca = format!("ca_file = \"{}\"", origin.ca.ca().display());
    let gw = Gateway::start_with(stack, &fresh_address(), &routes(&with_ca)).await;
    let r = get(&gw).await;
    assert_eq!(r.status(), 200, "{}", gw.log());
    assert_eq!(r.text().await.expect("body"), "tls-origin /secure/a?x=1");
    drop(gw);
    // verification turned off by the operator: served
    let gw = Gateway::start_with(stack, &fresh_address(), &routes("tls_verify = false")).await;
    assert_eq!(get(&gw).await.status(), 200, "{}", gw.log());
}

#[tokio::test]
async fn https_listener_serves_challenges_for_an_https_resource() {
    let stack = Stack::shared();
    let ca = TestCa::new(&["DNS:localhost", "IP:127.0.0.1"]);
    let tls_port = free_port();
    let prefix = unique_prefix("https");
    let routes = format!(
        "[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n\n[[routes]]\nname = \"priced\"\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n",
        ca.cert().display(),
        ca.key().display()
    );
    let gw = Gateway::start_with(stack, &fresh_address(), &routes).await;
    wait_for_port(tls_port);
    let root = reqwest::Certificate::from_pem(&std::fs::read(ca.ca()).expect("ca")).expect("pem");
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .expect("client");

    let r = client
        .get(format!("https://127.0.0.1:{tls_port}{prefix}/r"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("https: {e:?}\n{}", gw.log()));
    assert_eq!(r.status(), 402);
    let challenge = decode_b64_json(r.headers()["payment-required"].to_str().expect("ascii"));
    assert_eq!(
        challenge["resource"]["url"],
        format!("https://127.0.0.1:{tls_port}{prefix}/r")
    );

    // a free request over https reaches the origin with X-Forwarded-Proto: https
    let free = unique_prefix("https-free");
    let r = client
        .get(format!("https://127.0.0.1:{tls_port}{free}/x"))
        .send()
        .await
        .expect("https free");
    assert_eq!(r.status(), 200);
    let log = stack.origin_log(&free).await;
    assert_eq!(log[0]["headers"]["x-forwarded-proto"], "https");
    // and plain http keeps working beside it
    assert_eq!(
        reqwest::get(gw.url(&format!("{prefix}/r")))
            .await
            .expect("http")
            .status(),
        402
    );
}

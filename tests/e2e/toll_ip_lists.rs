//! Crawler IP lists fetched from a URL (a loopback server standing in for OpenAI's
//! `gptbot.json`): a GPTBot from a listed address is verified and charged its price, one from
//! elsewhere is spoofed and blocked; when the published list changes the gateway follows it
//! within `ip_list_refresh`; when the list's server fails, the last list fetched stays in force.
//! The access log, as JSON lines, carries each request's identity outcome and method.

use std::net::{IpAddr, Ipv4Addr};

use crate::support::list_server::ListServer;
use crate::support::{Gateway, Stack, eventually, fresh_address, unique_prefix};

const GPTBOT: &str = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot";

fn list(cidr: &str) -> String {
    format!(
        r#"{{"creationTime":"2026-12-01T00:00:00.000000","prefixes":[{{"ipv4Prefix":"{cidr}"}}]}}"#
    )
}

/// The status a GPTBot from `ip` gets for `url`.
async fn status_from(ip: [u8; 4], url: &str) -> u16 {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .expect("client")
        .get(url)
        .header("User-Agent", GPTBOT)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_ip_list_is_fetched_followed_when_it_changes_and_kept_when_it_fails() {
    let stack = Stack::shared();
    let prefix = unique_prefix("toll-iplist");
    let server = ListServer::start(&list("127.0.0.66/32"));
    let routes = format!(
        r#"[[routes]]
path = "{prefix}/**"
price = "$0.01"

[access_log]
format = "json"

[toll_booth]
ip_list_refresh = "1s"

[[toll_booth.crawler]]
id = "gptbot"
user_agents = ["GPTBot"]
action = "charge"
price = "USD 0.02"
verify = {{ ip_lists = ["{url}"] }}
"#,
        url = server.url("/gptbot.json")
    );
    let config = Gateway::config(stack, &stack.info.facilitator, &fresh_address(), &routes);
    let gw = Gateway::start(&config).await;
    let url = gw.url(&format!("{prefix}/page"));
    // 402 at the crawler's price: verified by the list; 403: spoofed.
    let fetched = eventually(10, || async {
        status_from([127, 0, 0, 66], &url).await == 402
    })
    .await;
    assert!(fetched, "{}", gw.log());
    assert_eq!(
        status_from([127, 0, 0, 67], &url).await,
        403,
        "not on the list"
    );

    server.set(200, &list("127.0.0.67/32"));
    let followed = eventually(10, || async {
        status_from([127, 0, 0, 67], &url).await == 402
    })
    .await;
    assert!(followed, "the new list is in force");
    assert_eq!(
        status_from([127, 0, 0, 66], &url).await,
        403,
        "dropped from the list"
    );

    server.set(500, "down");
    let before = server.fetches();
    let retried = eventually(10, || async { server.fetches() > before + 1 }).await;
    assert!(retried, "the failing list is asked again");
    assert_eq!(
        status_from([127, 0, 0, 67], &url).await,
        402,
        "the last list stays"
    );
    assert!(stack.origin_log(&format!("{prefix}/page")).await.is_empty());

    let log = gw.log();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v["target"] == "access")
        .collect();
    let seen = |identity: &str, method: &str, status: u64| {
        access.iter().any(|v| {
            v["crawler"] == "gptbot"
                && v["identity"] == identity
                && v["identity_method"] == method
                && v["status"] == status
        })
    };
    assert!(seen("verified", "ip_list", 402), "{log}");
    assert!(seen("spoofed", "user_agent", 403), "{log}");
    assert!(
        access
            .iter()
            .all(|v| v["crawler_price"].is_u64() && v["ms"].is_u64())
    );
}

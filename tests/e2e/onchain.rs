//! `settle = "onchain"` with local verification and no facilitator process at all: the official
//! clients pay, the gateway submits `transferWithAuthorization` from its own gas account, and the
//! chain shows each payment settled once, also when many are settled at the same time.

use alloy_primitives::{Address, U256};
use futures::StreamExt;

use crate::challenge;
use crate::support::gateway::free_port;
use crate::support::{Gateway, Stack, chain, fresh_address, node, unique_prefix};

/// Anvil's default account #3 (its well-known test key): the gateway's gas account here. #0 owns
/// USDC, #1 is the harness facilitator's signer.
const GAS_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";

/// A gateway that verifies and settles on the stack's chain itself; its facilitator URL points
/// at nothing.
async fn self_settling(stack: &Stack, prefix: &str) -> (Gateway, String) {
    let pay_to = fresh_address();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let routes = format!("[[routes]]\npath = \"{prefix}/**\"\nprice = \"$0.001\"\n");
    let mut config = Gateway::config(stack, &dead, &pay_to, &routes);
    config.push_str(&format!(
        "\n[chains.\"eip155:84532\"]\nrpc_url = \"{}\"\nsettle = \"onchain\"\n",
        stack.info.rpc
    ));
    let gw = Gateway::start_with_env(&config, &[("GATEWAY_GAS_KEY", GAS_KEY)]).await;
    (gw, pay_to)
}

#[tokio::test]
async fn official_clients_pay_with_no_facilitator_and_the_gateway_settles_on_chain() {
    let stack = Stack::shared();
    let prefix = unique_prefix("onchain");
    let (gw, pay_to) = self_settling(stack, &prefix).await;
    for client in ["v2", "v1"] {
        let payer = stack.payer();
        let url = gw.url(&format!("{prefix}/{client}"));
        let (r, settlement) = node::pay_settled(client, &url, &payer.private_key).await;
        assert_eq!(r.status, 200, "{client}: {r:?}\n{}", gw.log());
        assert_eq!(settlement["success"], true, "{client}: {settlement}");
        let tx = settlement["transaction"].as_str().expect("tx");
        let (from, nonce) = chain::authorization_used(&stack.info.rpc, tx)
            .await
            .expect("AuthorizationUsed in the transaction");
        assert_eq!(from, payer.address.parse::<Address>().expect("address"));
        assert!(chain::authorization_state(&stack.info.rpc, &stack.info.usdc, from, nonce).await);
    }
    let balance = stack.usdc_balance(&pay_to).await;
    assert_eq!(balance, U256::from(2000));
}

#[tokio::test]
async fn concurrent_settlements_share_one_gas_account_without_nonce_collisions() {
    let stack = Stack::shared();
    let prefix = unique_prefix("onchain-many");
    let (gw, pay_to) = self_settling(stack, &prefix).await;
    let path = format!("{prefix}/r");
    let (v2, _) = challenge(&gw, &path).await;
    // One payment per funded payer, plus 20 copies of the first: one delivery, one settlement each.
    let mut signed = Vec::new();
    for p in &stack.info.payers {
        signed.push(node::sign(2, &p.private_key, &v2["accepts"][0], &[]).await);
    }
    let copies: Vec<&node::Signed> = signed
        .iter()
        .chain(std::iter::repeat_n(&signed[0], 20))
        .collect();
    let client = reqwest::Client::new();
    let statuses: Vec<u16> = futures::stream::iter(copies)
        .map(|s| {
            let req = client.get(gw.url(&path)).header(&s.header, &s.value);
            async move { req.send().await.expect("send").status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, stack.info.payers.len(), "{statuses:?}\n{}", gw.log());
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    assert_eq!(
        stack.origin_log(&prefix).await.len(),
        stack.info.payers.len()
    );
    let balance = stack.usdc_balance(&pay_to).await;
    assert_eq!(balance, U256::from(1000 * stack.info.payers.len() as u64));
}

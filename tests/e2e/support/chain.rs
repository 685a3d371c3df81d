//! Reads chain state from anvil over JSON-RPC: USDC balances, `authorizationState`, and the
//! `AuthorizationUsed` event of a settlement transaction.

use alloy_primitives::{Address, B256, U256, keccak256};
use serde_json::{Value, json};

async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp: Value = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("rpc")
        .json()
        .await
        .expect("rpc json");
    assert!(resp.get("error").is_none(), "{method}: {resp}");
    resp["result"].clone()
}

fn selector(signature: &str) -> String {
    alloy_primitives::hex::encode(&keccak256(signature.as_bytes())[..4])
}

fn word(bytes: &[u8]) -> String {
    let mut w = [0u8; 32];
    w[32 - bytes.len()..].copy_from_slice(bytes);
    alloy_primitives::hex::encode(w)
}

async fn call(url: &str, to: &str, data: String) -> U256 {
    let result = rpc(
        url,
        "eth_call",
        json!([{"to": to, "data": format!("0x{data}")}, "latest"]),
    )
    .await;
    let hex = result.as_str().expect("hex result");
    U256::from_str_radix(hex.trim_start_matches("0x"), 16).expect("uint")
}

/// USDC balance of `owner` in atomic units.
pub async fn balance_of(url: &str, token: &str, owner: &str) -> U256 {
    let owner: Address = owner.parse().expect("address");
    call(
        url,
        token,
        format!(
            "{}{}",
            selector("balanceOf(address)"),
            word(owner.as_slice())
        ),
    )
    .await
}

/// EIP-3009 `authorizationState(authorizer, nonce)`: true once used.
pub async fn authorization_state(url: &str, token: &str, authorizer: Address, nonce: B256) -> bool {
    let data = format!(
        "{}{}{}",
        selector("authorizationState(address,bytes32)"),
        word(authorizer.as_slice()),
        alloy_primitives::hex::encode(nonce)
    );
    call(url, token, data).await == U256::from(1)
}

/// The (authorizer, nonce) of the `AuthorizationUsed` event in a transaction, if it succeeded.
pub async fn authorization_used(url: &str, tx: &str) -> Option<(Address, B256)> {
    let receipt = rpc(url, "eth_getTransactionReceipt", json!([tx])).await;
    if receipt["status"] != "0x1" {
        return None;
    }
    let topic = format!(
        "0x{}",
        alloy_primitives::hex::encode(keccak256(b"AuthorizationUsed(address,bytes32)"))
    );
    receipt["logs"].as_array()?.iter().find_map(|log| {
        let topics = log["topics"].as_array()?;
        if topics.first()?.as_str()? != topic {
            return None;
        }
        let authorizer: B256 = topics.get(1)?.as_str()?.parse().ok()?;
        let nonce: B256 = topics.get(2)?.as_str()?.parse().ok()?;
        Some((Address::from_slice(&authorizer[12..]), nonce))
    })
}

/// Moves all of `from`'s `token` to `to` as `from` (anvil impersonation, gas money given): a payer
/// whose balance is gone after paying.
pub async fn drain(url: &str, token: &str, from: &str, to: &str) {
    let balance = balance_of(url, token, from).await;
    let to: Address = to.parse().expect("address");
    rpc(
        url,
        "anvil_setBalance",
        json!([from, "0x56BC75E2D63100000"]),
    )
    .await;
    rpc(url, "anvil_impersonateAccount", json!([from])).await;
    let data = format!(
        "0x{}{}{}",
        selector("transfer(address,uint256)"),
        word(to.as_slice()),
        word(&balance.to_be_bytes::<32>())
    );
    rpc(
        url,
        "eth_sendTransaction",
        json!([{"from": from, "to": token, "data": data}]),
    )
    .await;
    rpc(url, "anvil_stopImpersonatingAccount", json!([from])).await;
}

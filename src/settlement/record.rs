//! A payment as the ledger keeps it, and back: everything needed to settle it after a restart
//! (the client's payload exactly as sent, the requirement it answered, the key).

use alloy_primitives::hex;

use crate::clock::unix_millis;
use crate::evm::ExactAuthorization;
use crate::ledger::{Record, State};
use crate::proxy::ctx::{PaidRequest, PaymentState};
use crate::snapshot::SettlePolicy;
use crate::store::PaymentKey;
use crate::x402::{SharedJson, Version};

/// The ledger row of an accepted payment.
pub fn from_paid(paid: &PaidRequest, state: State) -> Record {
    let now = unix_millis();
    Record {
        id: paid.ledger_id(),
        chain_id: paid.key.chain_id,
        asset: paid.key.asset.to_checksum(None),
        payer: paid.payer.clone(),
        nonce: format!("{}", paid.key.nonce),
        route: paid.route.clone(),
        network: paid.network.clone(),
        amount: paid.amount.clone(),
        policy: paid.policy.as_str().to_string(),
        version: paid.version.number(),
        payload: paid.payload.text().to_string(),
        requirements: paid.requirements.text().to_string(),
        valid_before: paid.auth.valid_before,
        state,
        transaction: paid.transaction.clone(),
        reason: None,
        created_ms: paid.accepted_ms.min(now),
        updated_ms: now,
        attempts: 0,
    }
}

/// The payment a ledger row holds, to settle or reconcile it after a restart.
pub fn to_paid(record: &Record) -> Result<PaidRequest, String> {
    let payload =
        SharedJson::parse(&record.payload).map_err(|_| "payload is not JSON".to_string())?;
    let requirements = SharedJson::parse(&record.requirements)
        .map_err(|_| "requirements are not JSON".to_string())?;
    let auth = ExactAuthorization::from_payload(&payload["payload"]).map_err(|e| e.to_string())?;
    let asset = record
        .asset
        .parse()
        .map_err(|_| "asset is not an address".to_string())?;
    let version = match record.version {
        1 => Version::V1,
        _ => Version::V2,
    };
    let policy = match record.policy.as_str() {
        "before" => SettlePolicy::Before,
        "background" => SettlePolicy::Background,
        _ => SettlePolicy::After,
    };
    let key = PaymentKey {
        chain_id: record.chain_id,
        asset,
        payer: auth.from,
        nonce: auth.nonce,
    };
    if hex::encode(key.digest()) != record.id {
        return Err("the payload does not match the row's id".into());
    }
    Ok(PaidRequest {
        key,
        version,
        payer: record.payer.clone(),
        amount: record.amount.clone(),
        network: record.network.clone(),
        asset: record.asset.clone(),
        payload,
        requirements,
        state: PaymentState::Verified,
        hold: None,
        auth,
        route: record.route.clone(),
        policy,
        owed: None,
        transaction: record.transaction.clone(),
        accepted_ms: record.created_ms,
        pass: None,
        payment_id: None,
    })
}

/// Whether `paid` is the very payment the row recorded (same signed authorization).
pub fn same_payment(record: &Record, paid: &PaidRequest) -> bool {
    serde_json::from_str::<serde_json::Value>(&record.payload)
        .ok()
        .and_then(|p| ExactAuthorization::from_payload(&p["payload"]).ok())
        .is_some_and(|auth| auth == paid.auth)
}

//! `[chains."eip155:N"]` → the chain readers of local verification and the settlers of on-chain
//! settlement. One whose settings did not change is kept across a reload, with its cache and
//! reservations (a reader) or its account nonces (a settler).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::compile::CompileContext;
use super::error::Findings;
use super::payment::network;
use super::schema::{ChainToml, TextOrEnv};
use crate::evm::batch::MULTICALL3;
use crate::evm::chain::{ChainReader, ChainSettings};
use crate::evm::settle::{OnchainSettings, OnchainSettler};

/// What `[chains]` compiles to: readers of the chains verified locally, settlers of the chains
/// settled on chain, by chain id.
#[derive(Default)]
pub(super) struct Chains {
    pub readers: BTreeMap<u64, Arc<ChainReader>>,
    pub settlers: BTreeMap<u64, Arc<OnchainSettler>>,
}

/// Compiles every `[chains."eip155:N"]`.
pub(super) fn compile(
    chains: &BTreeMap<String, Spanned<ChainToml>>,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Chains {
    let mut out = Chains::default();
    for (name, chain) in chains {
        let c = chain.get_ref();
        let Some(net) = network(&Spanned::new(chain.span(), name.clone()), f) else {
            continue;
        };
        let local = match c.verify.as_ref().map(|v| v.get_ref().as_str()) {
            None | Some("local") => true,
            Some("facilitator") => false,
            Some(other) => {
                let span = c.verify.as_ref().map_or(chain.span(), Spanned::span);
                f.error(
                    span,
                    format!("unknown verify mode `{other}`: expected \"local\" or \"facilitator\""),
                );
                continue;
            }
        };
        let rpc_url = match c.rpc_url.get_ref() {
            TextOrEnv::Text(t) => Some(t.clone()),
            TextOrEnv::Env(e) => ctx.secret(
                &e.env,
                &format!("the RPC URL of {name}"),
                c.rpc_url.span(),
                f,
            ),
        };
        let Some(rpc_url) = rpc_url else { continue };
        if let Some(settler) = onchain(name, net.chain_id, c, &rpc_url, ctx, f) {
            out.settlers.insert(net.chain_id, settler);
        }
        if !local {
            continue;
        }
        let settings = ChainSettings {
            chain_id: net.chain_id,
            rpc_url,
            cache_ttl: Duration::from_millis(c.chain_cache_ms),
            // A batch's simulation and gas estimate are heavy calls: bounded like a receipt, not
            // like a balance read (a tight bound gives up on calls the node still runs, and the
            // retries pile up on it).
            rpc_timeout: call_bound(c),
            reconcile_wait: Duration::from_millis(c.reconcile_wait_ms),
        };
        let kept = ctx
            .previous
            .and_then(|p| p.chains.get(&net.chain_id))
            .filter(|r| r.settings() == &settings)
            .cloned();
        let reader = match kept {
            Some(r) => r,
            None => match ChainReader::new(settings) {
                Ok(r) => Arc::new(r),
                Err(_) => {
                    // The URL may carry a key: say what is wrong, not what it is.
                    f.error(
                        c.rpc_url.span(),
                        format!("the RPC URL of {name} is not a URL"),
                    );
                    continue;
                }
            },
        };
        out.readers.insert(net.chain_id, reader);
    }
    out
}

/// How long one call to a chain's node may take, reads and settlement alike: the larger of
/// `receipt_timeout_ms` and `rpc_timeout_ms`.
fn call_bound(c: &ChainToml) -> Duration {
    Duration::from_millis(c.receipt_timeout_ms.max(c.rpc_timeout_ms).max(1))
}

/// `settle = "onchain"`: the settler, its gas key from the environment (never quoted in errors).
fn onchain(
    name: &str,
    chain_id: u64,
    c: &ChainToml,
    rpc_url: &str,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Option<Arc<OnchainSettler>> {
    let mode = c.settle.as_ref()?;
    match mode.get_ref().as_str() {
        "facilitator" => return None,
        "onchain" => {}
        other => {
            f.error(
                mode.span(),
                format!("unknown settle mode `{other}`: expected \"facilitator\" or \"onchain\""),
            );
            return None;
        }
    }
    let (var, span) = c
        .gas_key
        .as_ref()
        .map_or(("GATEWAY_GAS_KEY", mode.span()), |k| {
            (k.get_ref().env.as_str(), k.span())
        });
    let gas_key = ctx.secret(var, &format!("the gas key of {name}"), span.clone(), f)?;
    let multicall = match &c.multicall {
        None => MULTICALL3,
        Some(m) => match m.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                f.error(m.span(), "`multicall` is not an address");
                return None;
            }
        },
    };
    if !(1..=1000).contains(&c.batch_max) {
        f.error(mode.span(), "`batch_max` must be between 1 and 1000");
        return None;
    }
    if !(1..=64).contains(&c.batches_in_flight) {
        f.error(mode.span(), "`batches_in_flight` must be between 1 and 64");
        return None;
    }
    let settings = OnchainSettings {
        chain_id,
        rpc_url: rpc_url.to_string(),
        gas_key,
        max_gas_price_wei: u128::from(c.max_gas_price_gwei) * 1_000_000_000,
        receipt_timeout: Duration::from_millis(c.receipt_timeout_ms.max(1)),
        rpc_timeout: call_bound(c),
        batch_max: c.batch_max,
        batch_wait: Duration::from_millis(c.batch_wait_ms),
        batches_in_flight: c.batches_in_flight,
        multicall,
    };
    let kept = ctx
        .previous
        .and_then(|p| p.onchain.get(&chain_id))
        .filter(|s| s.settings() == &settings)
        .cloned();
    match kept {
        Some(s) => Some(s),
        None => match OnchainSettler::new(settings) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                f.error(span, format!("`{var}`: {e}"));
                None
            }
        },
    }
}

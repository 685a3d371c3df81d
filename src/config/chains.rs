//! `[chains."eip155:N"]` → the chain readers of local verification. A reader whose settings did
//! not change is kept across a reload, with its cache and its reservations of payments in flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::compile::CompileContext;
use super::error::Findings;
use super::payment::network;
use super::schema::{ChainToml, TextOrEnv};
use crate::evm::chain::{ChainReader, ChainSettings};

/// The readers of the chains verified locally, by chain id.
pub(super) fn compile(
    chains: &BTreeMap<String, Spanned<ChainToml>>,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> BTreeMap<u64, Arc<ChainReader>> {
    let mut out = BTreeMap::new();
    for (name, chain) in chains {
        let c = chain.get_ref();
        let Some(net) = network(&Spanned::new(chain.span(), name.clone()), f) else {
            continue;
        };
        match c.verify.as_ref().map(|v| v.get_ref().as_str()) {
            None | Some("local") => {}
            Some("facilitator") => continue,
            Some(other) => {
                let span = c.verify.as_ref().map_or(chain.span(), Spanned::span);
                f.error(
                    span,
                    format!("unknown verify mode `{other}`: expected \"local\" or \"facilitator\""),
                );
                continue;
            }
        }
        let rpc_url = match c.rpc_url.get_ref() {
            TextOrEnv::Text(t) => Some(t.clone()),
            TextOrEnv::Env(e) => {
                let v = (ctx.env)(&e.env);
                if v.is_none() {
                    f.error(
                        c.rpc_url.span(),
                        format!(
                            "environment variable `{}` (the RPC URL of {name}) is not set",
                            e.env
                        ),
                    );
                }
                v
            }
        };
        let Some(rpc_url) = rpc_url else { continue };
        let settings = ChainSettings {
            chain_id: net.chain_id,
            rpc_url,
            cache_ttl: Duration::from_millis(c.chain_cache_ms),
            rpc_timeout: Duration::from_millis(c.rpc_timeout_ms.max(1)),
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
        out.insert(net.chain_id, reader);
    }
    out
}

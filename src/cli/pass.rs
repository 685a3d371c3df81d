//! `x402-gateway pass --route NAME --payer ADDRESS`: issues a pass by hand (for a partner, a
//! support case, or a load test), signed with the config's current access key, exactly as a
//! payment on that route would have bought it. Prints the token; sent as `X402-Pass` (or the
//! `x402-pass` cookie) it opens the route's pass scope.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use ring::rand::{SecureRandom, SystemRandom};

use crate::access::pass::{self, PassClaims};
use crate::clock::{Clock, SystemClock};
use crate::config::{CompileContext, load, process_env};

#[derive(Debug, Args)]
pub struct PassArgs {
    /// The route whose pass is issued (its `name`).
    #[arg(long)]
    route: String,
    /// The wallet the origin is told (`X402-Payer`).
    #[arg(long)]
    payer: String,
    /// Lifetime in seconds (default: the route's `ttl`).
    #[arg(long)]
    ttl_secs: Option<u64>,
    /// Uses (default: the route's `uses`).
    #[arg(long)]
    uses: Option<u32>,
}

pub fn run(args: &PassArgs, config: &Path) -> anyhow::Result<()> {
    let now = SystemClock.now_secs();
    let ctx = CompileContext {
        version: 1,
        now,
        previous: None,
        env: &process_env,
    };
    let compiled = load(config, &ctx).map_err(|e| anyhow!("{e}"))?;
    let s = &compiled.snapshot;
    let route = (0..s.routes.len())
        .filter_map(|i| s.routes.policy(i))
        .find(|r| r.name == args.route)
        .with_context(|| format!("no route is named `{}`", args.route))?;
    let Some(offer) = &route.pass else {
        bail!(
            "route `{}` sells no pass (`pass = {{ ttl = … }}`)",
            route.name
        );
    };
    let keys = s
        .access
        .keys
        .as_ref()
        .context("no access keys are configured")?;
    let payer = args
        .payer
        .parse()
        .map_err(|_| anyhow!("`{}` is not an address", args.payer))?;
    let mut id = [0u8; 16];
    SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| anyhow!("no random source"))?;
    let claims = PassClaims {
        id,
        expires_at: now + args.ttl_secs.unwrap_or(offer.ttl_secs),
        uses: args.uses.unwrap_or(offer.uses),
        payer,
        scope: offer.scope,
    };
    println!("{}", pass::issue(keys, &claims));
    Ok(())
}

//! Route-level rules beyond the patterns: `settle` (the policy), `free_methods` (every method
//! priced but these), and the warning for a priced route that leaves other methods on its path to
//! a free route.

use std::ops::Range;
use std::sync::Arc;

use super::error::Findings;
use super::schema::RouteToml;
use crate::routes::RouteTable;
use crate::snapshot::{Pricing, Route, SettlePolicy};

/// `settle`: when the route's payments are settled.
pub(super) fn settle_policy(r: &RouteToml, f: &mut Findings<'_>) -> SettlePolicy {
    match r.settle.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("after", _)) => SettlePolicy::After,
        Some(("before", _)) => SettlePolicy::Before,
        Some(("background", _)) => SettlePolicy::Background,
        Some((other, span)) => {
            f.error(
                span,
                format!("unknown settle policy `{other}`: expected \"after\" (the default), \"before\" or \"background\""),
            );
            SettlePolicy::After
        }
    }
}

/// `settle = "background"` settles from the ledger: without one it cannot work.
pub(super) fn refuse_background_without_ledger(
    routes: &[toml::Spanned<RouteToml>],
    f: &mut Findings<'_>,
) {
    for r in routes {
        if let Some(s) = &r.get_ref().settle
            && s.get_ref() == "background"
        {
            f.error(
                s.span(),
                "`settle = \"background\"` settles from the ledger: enable `[ledger]` or use \"after\"",
            );
        }
    }
}

/// `free_methods`: the methods a priced route serves free; only on a route for every method.
pub(super) fn free_methods(r: &RouteToml, pricing: &Pricing, f: &mut Findings<'_>) -> Vec<String> {
    let Some(list) = &r.free_methods else {
        return Vec::new();
    };
    let all_methods = r
        .methods
        .as_ref()
        .is_none_or(|m| m.get_ref().iter().any(|x| x == "*"));
    if !all_methods {
        f.error(
            list.span(),
            "`free_methods` needs a route for every method: remove `methods` (every method but these is priced)",
        );
    }
    if matches!(pricing, Pricing::Free) {
        f.warning(
            list.span(),
            "this route is free; `free_methods` has no effect",
        );
    }
    let mut out: Vec<String> = list
        .get_ref()
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    if out.iter().any(|m| m == "GET") && !out.iter().any(|m| m == "HEAD") {
        out.push("HEAD".into());
    }
    out
}

/// Warns about a priced route that lists some methods when a later free route catches the
/// others on the same path: `POST /paid` would then be served free.
pub(super) fn warn_method_gaps(
    routes: &RouteTable<Arc<Route>>,
    spans: &[(Range<usize>, String)],
    f: &mut Findings<'_>,
) {
    for i in 0..routes.len() {
        let priced = routes
            .policy(i)
            .is_some_and(|r| matches!(r.pricing, Pricing::Paid(_)));
        if !priced {
            continue;
        }
        let free_catcher = routes.method_gaps(i).into_iter().find(|&j| {
            routes
                .policy(j)
                .is_some_and(|r| matches!(r.pricing, Pricing::Free))
        });
        if let (Some(j), Some((span, name))) = (free_catcher, spans.get(i))
            && let Some((_, free_name)) = spans.get(j)
        {
            f.warning(
                span.clone(),
                format!(
                    "route `{name}` prices only the methods it lists; requests with other methods on its path go to the free route `{free_name}`: list them in `methods`, or remove `methods` (and use `free_methods` for the ones to serve free)"
                ),
            );
        }
    }
}

//! `[access]` and the routes' `pass`, `payment_identifier` and `sign_in` keys, compiled: keys
//! from the environment or a file (read again on each reload, which is how keys rotate), pass
//! scopes as one-route tables, durations such as `"10m"`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use toml::Spanned;

use super::compile::CompileContext;
use super::error::Findings;
use super::schema::{AccessToml, RouteToml};
use crate::access::Keyring;
use crate::access::pass::scope_id;
use crate::access::siwx::Nonces;
use crate::routes::{RouteSpec, RouteTableBuilder};
use crate::snapshot::{AccessSettings, PassOffer, PassScope, SignInOffer};
use crate::x402::challenge::{Extensions, SignInAdvert};

/// The environment variable read for keys when `[access]` names none.
pub const DEFAULT_KEYS_ENV: &str = "X402_ACCESS_KEYS";

/// `[access]` while routes are compiled: the settings the snapshot keeps, and what each sign-in
/// route's 402 is given.
pub(super) struct AccessBuilder {
    pub settings: AccessSettings,
    nonces: Arc<Nonces>,
    sign_in_max_age_secs: u64,
}

/// `[access]`, compiled.
pub(super) fn compile(
    a: &AccessToml,
    base: &Path,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> AccessBuilder {
    let keys = keys(a, base, ctx, f).map(Arc::new);
    let nonces = match &keys {
        Some(k) => Arc::new(Nonces::new(Keyring::clone(k))),
        // No configured key: one random key for the life of the process (nonces live minutes).
        None => local_nonces(),
    };
    let sign_in_max_age_secs = a
        .sign_in_max_age
        .as_ref()
        .and_then(|d| duration_secs(d, f))
        .unwrap_or(300);
    let same_site = match a
        .cookie_same_site
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("Lax", _)) => "Lax",
        Some(("Strict", _)) => "Strict",
        Some(("None", _)) => "None",
        Some((other, span)) => {
            f.error(
                span,
                format!(
                    "unknown `cookie_same_site` `{other}`: expected \"Lax\", \"Strict\" or \"None\""
                ),
            );
            "Lax"
        }
    };
    AccessBuilder {
        settings: AccessSettings {
            keys,
            same_site,
            scopes: HashMap::new(),
        },
        nonces,
        sign_in_max_age_secs,
    }
}

fn local_nonces() -> Arc<Nonces> {
    static LOCAL: OnceLock<Arc<Nonces>> = OnceLock::new();
    LOCAL
        .get_or_init(|| Arc::new(Nonces::new(Keyring::random())))
        .clone()
}

fn keys(
    a: &AccessToml,
    base: &Path,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Option<Keyring> {
    let (text, span) = if let Some(file) = &a.keys_file {
        let path = base.join(file.get_ref());
        match std::fs::read_to_string(&path) {
            Ok(t) => (t, file.span()),
            Err(e) => {
                f.error(
                    file.span(),
                    format!("cannot read the access keys file {}: {e}", path.display()),
                );
                return None;
            }
        }
    } else if let Some(var) = &a.keys {
        let text = ctx.secret(&var.get_ref().env, "the access keys", var.span(), f)?;
        (text, var.span())
    } else {
        ((ctx.env)(DEFAULT_KEYS_ENV)?, 0..0)
    };
    match Keyring::parse(&text) {
        Ok(k) => Some(k),
        Err(e) => {
            f.error(span, format!("access keys: {e}"));
            None
        }
    }
}

/// What a priced route offers beside payment.
pub(super) struct RouteAccess {
    pub pass: Option<PassOffer>,
    pub payment_id: Option<bool>,
    pub sign_in: Option<SignInOffer>,
    pub extensions: Extensions,
}

/// A priced route's `pass`, `payment_identifier` and `sign_in`; a pass scope is added to
/// `access.scopes`.
pub(super) fn route(
    r: &RouteToml,
    case_sensitive: bool,
    ledger: bool,
    access: &mut AccessBuilder,
    f: &mut Findings<'_>,
) -> RouteAccess {
    let payment_id = r.payment_identifier.as_ref().and_then(|p| match p.get_ref().as_str() {
        "optional" => Some(false),
        "required" => Some(true),
        other => {
            f.error(p.span(), format!("unknown `payment_identifier` `{other}`: expected \"optional\" or \"required\""));
            None
        }
    });
    let sign_in = r.sign_in.as_ref().and_then(|s| {
        if !ledger {
            f.error(
                s.span(),
                "`sign_in` serves wallets the ledger says have paid: enable `[ledger]`",
            );
            return None;
        }
        let paid_within_secs = match &s.get_ref().paid_within {
            Some(d) => duration_secs(d, f)?,
            None => 86_400,
        };
        Some(SignInOffer { paid_within_secs })
    });
    let pass = r.pass.as_ref().and_then(|p| {
        let p_ref = p.get_ref();
        if access.settings.keys.is_none() {
            f.error(p.span(), format!("passes are signed by the gateway: set `{DEFAULT_KEYS_ENV}` (`id=secret`, at least 32 bytes) or `[access].keys` / `keys_file`"));
            return None;
        }
        let ttl_secs = duration_secs(&p_ref.ttl, f)?;
        let host = p_ref.host.as_ref().or(r.host.as_ref()).map_or("*", |h| h.get_ref().as_str());
        let pattern = p_ref.scope.as_ref().unwrap_or(&r.path);
        let mut table = RouteTableBuilder::new();
        let spec = RouteSpec { host, methods: &[], path: pattern.get_ref(), case_sensitive };
        if let Err(e) = table.push(spec, ()) {
            f.error(pattern.span(), format!("pass scope: {e}"));
            return None;
        }
        let scope = scope_id(host, pattern.get_ref());
        access.settings.scopes.insert(scope, PassScope { table: table.build() });
        Some(PassOffer {
            ttl_secs,
            uses: p_ref.uses.unwrap_or(u32::MAX),
            scope,
            cookie_path: cookie_path(pattern.get_ref()),
        })
    });
    let extensions = Extensions {
        payment_identifier: payment_id,
        sign_in: sign_in.map(|_| SignInAdvert {
            nonces: access.nonces.clone(),
            statement: r
                .sign_in
                .as_ref()
                .and_then(|s| s.get_ref().statement.clone()),
            max_age_secs: access.sign_in_max_age_secs,
        }),
    };
    RouteAccess {
        pass,
        payment_id,
        sign_in,
        extensions,
    }
}

/// The path pattern up to its first segment with a parameter or wildcard: `/docs/**` → `/docs`.
fn cookie_path(pattern: &str) -> String {
    let literal: Vec<&str> = pattern
        .split('/')
        .skip(1)
        .take_while(|seg| !seg.contains(['*', ':']))
        .collect();
    // A pattern naming one literal path: the cookie goes to exactly that path.
    format!("/{}", literal.join("/").trim_end_matches('/'))
}

/// `"90s"`, `"10m"`, `"1h"`, `"7d"` or a number of seconds, in seconds (at least 1).
pub(super) fn duration_secs(d: &Spanned<String>, f: &mut Findings<'_>) -> Option<u64> {
    let text = d.get_ref().trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && scale > 0 => Some(n.saturating_mul(scale)),
        _ => {
            f.error(
                d.span(),
                format!(
                    "`{text}` is not a duration: write e.g. \"90s\", \"10m\", \"1h\" or \"7d\""
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_paths_stop_at_the_first_wildcard() {
        assert_eq!(cookie_path("/docs/**"), "/docs");
        assert_eq!(cookie_path("/a/b/:id/c"), "/a/b");
        assert_eq!(cookie_path("/**"), "/");
        assert_eq!(cookie_path("/report.pdf"), "/report.pdf");
    }
}

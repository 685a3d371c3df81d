//! `[facilitator]` → the facilitator client: URL, timeouts, static auth headers and CDP JWT auth
//! from the environment. The client of the snapshot being replaced is kept when nothing changed,
//! so a reload does not drop its connections or its `/supported` cache.

use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::compile::{CompileContext, http_url};
use super::error::Findings;
use super::schema::FacilitatorToml;
use crate::facilitator::{FacilitatorClient, FacilitatorSettings};

/// The facilitator client for `[facilitator]`.
pub(super) fn compile(
    t: &FacilitatorToml,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Option<Arc<FacilitatorClient>> {
    let url = http_url(&t.url, f)?;
    let mut headers = Vec::new();
    for (name, value) in &t.headers {
        let var = &value.get_ref().env;
        let what = format!("for facilitator header `{name}`");
        if let Some(v) = ctx.secret(var, &what, value.span(), f) {
            headers.push((name.clone(), v));
        }
    }
    let cdp = cdp_credentials(t, ctx, f);
    let settings = FacilitatorSettings {
        url,
        headers,
        verify_timeout: Duration::from_millis(t.verify_timeout_ms.max(1)),
        settle_timeout: Duration::from_millis(t.settle_timeout_ms.max(1)),
        cdp,
    };
    if let Some(prev) = ctx
        .previous
        .filter(|p| p.facilitator.settings() == &settings)
    {
        return Some(prev.facilitator.clone());
    }
    FacilitatorClient::new(settings)
        .map_err(|e| f.error(t.url.span(), e))
        .ok()
        .map(Arc::new)
}

/// `[facilitator] auth = "cdp"`: the key id and secret from the environment, checked now so a
/// bad secret is a config error (which never quotes it).
fn cdp_credentials(
    t: &FacilitatorToml,
    ctx: &CompileContext<'_>,
    f: &mut Findings<'_>,
) -> Option<crate::facilitator::CdpCredentials> {
    let auth = t.auth.as_ref()?;
    match auth.get_ref().as_str() {
        "none" => return None,
        "cdp" => {}
        other => {
            f.error(
                auth.span(),
                format!("unknown facilitator auth `{other}`: expected \"cdp\" or \"none\""),
            );
            return None;
        }
    }
    let var = |value: &Option<Spanned<super::schema::EnvValue>>, default| {
        value.as_ref().map_or((default, auth.span()), |v| {
            (v.get_ref().env.clone(), v.span())
        })
    };
    let (id_name, id_span) = var(&t.cdp_key_id, "CDP_API_KEY_ID".to_string());
    let (secret_name, secret_span) = var(&t.cdp_key_secret, "CDP_API_KEY_SECRET".to_string());
    let id = ctx.secret(&id_name, "the CDP API key id", id_span, f);
    let secret = ctx.secret(
        &secret_name,
        "the CDP API key secret",
        secret_span.clone(),
        f,
    );
    let credentials = crate::facilitator::CdpCredentials {
        key_id: id?,
        secret: secret?,
    };
    match crate::facilitator::CdpSigner::new(&credentials) {
        Ok(_) => Some(credentials),
        Err(e) => {
            f.error(secret_span, format!("`{secret_name}`: {e}"));
            None
        }
    }
}

//! Web Bot Auth request signatures: the RFC 9421 profile of `draft-meunier-webbotauth-httpsig-protocol`
//! (toll-booth.md §1.2–1.5). [`parse`] reads `Signature-Input` / `Signature` / `Signature-Agent`,
//! picks the label tagged `web-bot-auth`, checks the profile rules and builds the signature base;
//! [`Signature::check_time`] and [`Signature::verify`] then decide. [`sign`] builds the same base
//! through the same code, for test crawlers and benches. Pure: no I/O, and time is an argument.
//!
//! Why not `web-bot-auth` 0.7.0's verifier (it is the reference, and the tests use it as an oracle):
//! its signature base is only produced inside `verify(&KeyRing, …)`, which turns the stored key bytes
//! into a `VerifyingKey` (point decompression) on every call and checks no times; its label filter is
//! a bare predicate, so a refusal cannot say why; it drops the `type` parameter of `Signature-Agent`
//! members; and it silently skips unparseable `Signature-Input` lines. So this module builds on
//! `sfv` (the parser that crate uses), computes the base once at parse time, and verifies with
//! `ed25519-dalek` against a key the directory cache decompressed once.

mod agent;
mod base;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use http::HeaderMap;
use sfv::{BareItem, InnerList, Item, ListEntry, Parser};

use agent::{resolve_agent, string_param, time_param};
use base::{component_name, signature_base};
pub(crate) use base::{field_value, serialize_inner_list};

#[cfg(test)]
mod tests;

/// The `tag` of a Web Bot Auth request signature.
pub const TAG: &str = "web-bot-auth";
/// Where a `directory`-type signature agent publishes its keys.
pub const DIRECTORY_PATH: &str = "/.well-known/http-message-signatures-directory";
/// The RFC 9421 Appendix B.1.4 Ed25519 test key's JWK thumbprint.
pub const TEST_KEYID: &str = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";

/// The parts of a request a signature can cover.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub method: &'a str,
    /// `"http"` or `"https"`.
    pub scheme: &'a str,
    /// `host[:port]` as the client sent it (`Host`); lowercased here, default port dropped.
    pub authority: &'a str,
    /// E.g. `"/a/b?x=1"`.
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
}

/// How the signature agent's keys are published (the `type` member parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    /// `type=directory` (or absent): an origin with a well-known key directory.
    Directory,
    /// `type=jwks_uri`: any JWKS URL.
    JwksUri,
    /// `type=cimd`: an OAuth client ID metadata document.
    Cimd,
    /// The legacy bare sf-String `Signature-Agent`, a directory origin.
    Legacy,
}

/// A parsed Web Bot Auth signature, its base already built.
#[derive(Debug, Clone)]
pub struct Signature {
    pub label: String,
    pub agent: AgentKind,
    /// The signature agent as sent (e.g. `https://crawler.example`).
    pub agent_url: String,
    /// The URL keys are fetched from, and the identity of the agent: for `Directory`/`Legacy`
    /// `<origin>/.well-known/http-message-signatures-directory`, for `JwksUri`/`Cimd` the URL itself.
    pub key_url: String,
    pub keyid: String,
    pub created: u64,
    pub expires: u64,
    pub nonce: Option<String>,
    /// Covered component names, lowercased, e.g. `["@authority", "signature-agent"]`.
    pub covered: Vec<String>,
    signature: [u8; 64],
    base: Vec<u8>,
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    #[error("signature expired")]
    Expired,
    #[error("signature created in the future")]
    NotYetValid,
    #[error("signature validity window too long")]
    WindowTooLong,
    #[error("signature does not verify")]
    BadSignature,
}

/// What [`parse`] tolerates.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Accept the legacy bare sf-String `Signature-Agent` (covered as plain `signature-agent`).
    pub accept_legacy: bool,
    /// Accept `http://` signature agents (tests only).
    pub allow_http: bool,
}

/// The signature parameters [`sign`] writes.
#[derive(Debug, Clone)]
pub struct SignParams {
    pub created: u64,
    pub expires: u64,
    pub nonce: Option<String>,
    pub keyid: String,
    /// The `Signature-Agent` dictionary member covered (`"signature-agent";key="…"`);
    /// `None` covers plain `"signature-agent"` (legacy form).
    pub agent_key: Option<String>,
}

use SigError::Malformed;

/// Reads the request's Web Bot Auth signature. `Ok(None)`: no `Signature-Input`/`Signature` at all.
pub fn parse(msg: &Message<'_>, opts: &ParseOptions) -> Result<Option<Signature>, SigError> {
    let input = field_value(msg.headers, "signature-input")?;
    let sig = field_value(msg.headers, "signature")?;
    let (input, sig) = match (input, sig) {
        (None, None) => return Ok(None),
        (Some(i), Some(s)) => (i, s),
        (None, Some(_)) => return Err(Malformed("Signature without Signature-Input")),
        (Some(_), None) => return Err(Malformed("Signature-Input without Signature")),
    };
    let inputs = Parser::new(&input)
        .parse_dictionary()
        .map_err(|_| Malformed("Signature-Input is not an sf-Dictionary"))?;
    let (label, inner) = inputs
        .into_iter()
        .find_map(|(label, entry)| match entry {
            ListEntry::InnerList(il) if string_param(&il.params, "tag") == Ok(Some(TAG)) => {
                Some((label, il))
            }
            _ => None,
        })
        .ok_or(Malformed(
            "no Signature-Input label has tag=\"web-bot-auth\"",
        ))?;

    let created = time_param(&inner.params, "created")?.ok_or(Malformed("created missing"))?;
    let expires = time_param(&inner.params, "expires")?.ok_or(Malformed("expires missing"))?;
    if expires < created {
        return Err(Malformed("expires before created"));
    }
    let keyid = string_param(&inner.params, "keyid")?.ok_or(Malformed("keyid missing"))?;
    let nonce = string_param(&inner.params, "nonce")?.map(str::to_owned);
    if string_param(&inner.params, "alg")?.is_some_and(|alg| alg != "ed25519") {
        return Err(Malformed("alg other than ed25519"));
    }

    let covered = inner
        .items
        .iter()
        .map(|item| component_name(item).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()?;
    if !covered
        .iter()
        .any(|c| c == "@authority" || c == "@target-uri")
    {
        return Err(Malformed("neither @authority nor @target-uri covered"));
    }
    let agent_item = inner
        .items
        .iter()
        .find(|item| component_name(item) == Ok("signature-agent"))
        .ok_or(Malformed("signature-agent not covered"))?;
    let (agent, agent_url, key_url) = resolve_agent(msg, agent_item, opts)?;
    let base = signature_base(msg, &inner)?;

    let sigs = Parser::new(&sig)
        .parse_dictionary()
        .map_err(|_| Malformed("Signature is not an sf-Dictionary"))?;
    let bytes = match sigs.get(label.as_str()) {
        Some(ListEntry::Item(item)) => item
            .bare_item
            .as_byte_sequence()
            .ok_or(Malformed("Signature member is not a byte sequence"))?,
        Some(ListEntry::InnerList(_)) => {
            return Err(Malformed("Signature member is an inner list"));
        }
        None => return Err(Malformed("no Signature for the web-bot-auth label")),
    };
    let signature: [u8; 64] = bytes
        .try_into()
        .map_err(|_| Malformed("signature is not 64 bytes (ed25519)"))?;

    Ok(Some(Signature {
        label: label.as_str().to_owned(),
        agent,
        agent_url,
        key_url,
        keyid: keyid.to_owned(),
        created,
        expires,
        nonce,
        covered,
        signature,
        base,
    }))
}

impl Signature {
    /// Freshness: `created` not beyond `now + skew`, not expired beyond `skew`, window ≤ `max_window`.
    pub fn check_time(&self, now: u64, max_window: u64, skew: u64) -> Result<(), SigError> {
        if self.created > now.saturating_add(skew) {
            return Err(SigError::NotYetValid);
        }
        if now > self.expires.saturating_add(skew) {
            return Err(SigError::Expired);
        }
        if self.expires.saturating_sub(self.created) > max_window {
            return Err(SigError::WindowTooLong);
        }
        Ok(())
    }

    /// Whether the signature covers `component` (ASCII case-insensitive).
    pub fn covers(&self, component: &str) -> bool {
        self.covered
            .iter()
            .any(|c| c.eq_ignore_ascii_case(component))
    }

    /// Ed25519 verification of the signature base (strict: no small-order keys, canonical `S`).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), SigError> {
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&self.base, &signature)
            .map_err(|_| SigError::BadSignature)
    }

    /// The id of one signed request (toll-booth.md §4.3): SHA-256 over `key_url`, `keyid`, the
    /// signature bytes, `method` and `target_uri`, each preceded by its length as a big-endian u64.
    pub fn commitment_id(&self, method: &str, target_uri: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let fields: [&[u8]; 5] = [
            self.key_url.as_bytes(),
            self.keyid.as_bytes(),
            &self.signature,
            method.as_bytes(),
            target_uri.as_bytes(),
        ];
        for field in fields {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(ctx.finish().as_ref());
        id
    }

    /// The signature base the signature was checked against.
    pub fn base(&self) -> &[u8] {
        &self.base
    }
}

/// RFC 7638 JWK thumbprint (base64url, no padding) of an Ed25519 public key (RFC 8037 App. A.3).
pub fn thumbprint(public_key: &[u8; 32]) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public_key)
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, jwk.as_bytes()))
}

/// True for the RFC 9421 Appendix B.1.4 test key; gateways refuse it unless allowed.
pub fn is_test_key(keyid: &str) -> bool {
    keyid == TEST_KEYID
}

/// Signs `msg` over `components` (names; `signature-agent` gets `;key=` from `params.agent_key`)
/// and returns the `Signature-Input` and `Signature` header values, both `label=…`. The request's
/// `Signature-Agent` and every covered header must already be in `msg.headers`.
pub fn sign(
    msg: &Message<'_>,
    label: &str,
    components: &[&str],
    params: &SignParams,
    key: &SigningKey,
) -> Result<(String, String), SigError> {
    sfv::KeyRef::from_str(label).map_err(|_| Malformed("label is not an sf-Key"))?;
    let sf_string = |s: &str| {
        sfv::String::from_string(s.to_owned())
            .map(BareItem::String)
            .map_err(|_| Malformed("not printable ASCII"))
    };
    let mut items = Vec::with_capacity(components.len());
    for component in components {
        let name = component.to_ascii_lowercase();
        let mut item = Item::new(sf_string(&name)?);
        if let (Some(k), "signature-agent") = (&params.agent_key, name.as_str()) {
            item.params
                .insert(sfv::key_ref("key").to_owned(), sf_string(k)?);
        }
        items.push(item);
    }
    let int = |v: u64| BareItem::try_from(v).map_err(|_| Malformed("time out of range"));
    let mut sp = sfv::Parameters::new();
    sp.insert(sfv::key_ref("created").to_owned(), int(params.created)?);
    sp.insert(sfv::key_ref("keyid").to_owned(), sf_string(&params.keyid)?);
    sp.insert(sfv::key_ref("alg").to_owned(), sf_string("ed25519")?);
    sp.insert(sfv::key_ref("expires").to_owned(), int(params.expires)?);
    if let Some(nonce) = &params.nonce {
        sp.insert(sfv::key_ref("nonce").to_owned(), sf_string(nonce)?);
    }
    sp.insert(sfv::key_ref("tag").to_owned(), sf_string(TAG)?);
    let inner = InnerList::with_params(items, sp);
    let base = signature_base(msg, &inner)?;
    let signature = key.sign(&base).to_bytes();
    Ok((
        format!("{label}={}", serialize_inner_list(&inner)),
        format!("{label}=:{}:", STANDARD.encode(signature)),
    ))
}

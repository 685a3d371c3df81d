//! A fetched key directory, read: media type, JWKS (or a CIMD's `jwks`), the per-key directory
//! self-signature (`("@authority";req "content-digest")`, or the older Cloudflare
//! `("@authority";req)`) with its RFC 9530 `Content-Digest`, and the response's cache lifetime.
//! [`sign_directory`] produces those headers for a directory we serve, through the same base code.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use http::HeaderMap;
use serde_json::Value;
use sfv::{BareItem, InnerList, Item, ListEntry, Parser, SerializeValue as _};

use super::{DirectoryError, Limits};
use crate::toll::signature::{field_value, serialize_inner_list, thumbprint};

/// The directory media type (requests `Accept` it, responses must carry it).
pub const DIRECTORY_MEDIA_TYPE: &str = "application/http-message-signatures-directory+json";
/// The `tag` of a directory self-signature.
pub const DIRECTORY_TAG: &str = "http-message-signatures-directory";
/// Skew tolerated on a self-signature's `created` / `expires`.
const SKEW: u64 = 60;

/// One usable key and its validity.
#[derive(Debug, Clone)]
pub(super) struct DirKey {
    key: VerifyingKey,
    nbf: Option<u64>,
    exp: Option<u64>,
}

/// A directory's keys by thumbprint.
#[derive(Debug)]
pub(super) struct KeySet(HashMap<String, DirKey>);

impl KeySet {
    pub(super) fn new(keys: HashMap<String, DirKey>) -> Self {
        KeySet(keys)
    }

    /// The key of `keyid` if it is valid at `now` (`nbf` ≤ now < `exp`).
    pub(super) fn get(&self, keyid: &str, now: u64) -> Option<VerifyingKey> {
        let k = self.0.get(keyid)?;
        let live = k.nbf.is_none_or(|nbf| nbf <= now) && k.exp.is_none_or(|exp| now < exp);
        live.then_some(k.key)
    }
}

/// The directory URL must serve the directory media type; other (`jwks_uri` / CIMD) URLs may also
/// serve `application/jwk-set+json` or `application/json`.
pub(super) fn check_media_type(
    headers: &HeaderMap,
    directory_path: bool,
) -> Result<(), DirectoryError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ok = essence == DIRECTORY_MEDIA_TYPE
        || (!directory_path
            && matches!(
                essence.as_str(),
                "application/jwk-set+json" | "application/json"
            ));
    if ok {
        Ok(())
    } else {
        Err(DirectoryError::Refused(format!(
            "media type {content_type:?}"
        )))
    }
}

/// The Ed25519 keys of a JWKS body, by thumbprint. Other key types are skipped; on the directory
/// URL a `kid` other than the thumbprint skips the key (elsewhere the thumbprint is used anyway).
pub(super) fn parse_keys(
    body: &[u8],
    max_keys: usize,
    directory_path: bool,
) -> Result<HashMap<String, DirKey>, DirectoryError> {
    let refused = |why: &str| DirectoryError::Refused(why.to_owned());
    let doc: Value = serde_json::from_slice(body).map_err(|_| refused("body is not JSON"))?;
    let keys = doc
        .get("keys")
        .or_else(|| doc.get("jwks").and_then(|j| j.get("keys")))
        .and_then(Value::as_array)
        .ok_or_else(|| refused("no \"keys\" array"))?;
    if keys.len() > max_keys {
        return Err(DirectoryError::Refused(format!(
            "{} keys, more than {max_keys}",
            keys.len()
        )));
    }
    let mut out = HashMap::with_capacity(keys.len());
    for jwk in keys {
        let field = |name| jwk.get(name).and_then(Value::as_str);
        if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
            continue;
        }
        if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
            continue;
        }
        let Some(x) = field("x").and_then(|x| URL_SAFE_NO_PAD.decode(x.trim_end_matches('=')).ok())
        else {
            continue;
        };
        let Ok(bytes) = <[u8; 32]>::try_from(x.as_slice()) else {
            continue;
        };
        let Ok(key) = VerifyingKey::from_bytes(&bytes) else {
            continue;
        };
        let keyid = thumbprint(&bytes);
        if directory_path
            && jwk
                .get("kid")
                .is_some_and(|kid| kid.as_str() != Some(&keyid))
        {
            continue;
        }
        let time = |name| jwk.get(name).map(|t: &Value| t.as_u64().ok_or(()));
        let (Ok(nbf), Ok(exp)) = (time("nbf").transpose(), time("exp").transpose()) else {
            continue;
        };
        out.insert(keyid, DirKey { key, nbf, exp });
    }
    Ok(out)
}

/// The keyids among `keys` whose directory self-signature in `headers` verifies.
pub(super) fn self_signed(
    headers: &HeaderMap,
    body: &[u8],
    authority: &str,
    keys: &HashMap<String, DirKey>,
    now: u64,
) -> HashSet<String> {
    let mut signed = HashSet::new();
    let dict = |name| {
        field_value(headers, name)
            .ok()
            .flatten()
            .and_then(|v| Parser::new(&v).parse_dictionary().ok())
    };
    let (Some(inputs), Some(sigs)) = (dict("signature-input"), dict("signature")) else {
        return signed;
    };
    let digest = field_value(headers, "content-digest").ok().flatten();
    let digest_ok = digest.as_deref().is_some_and(|d| digest_matches(d, body));
    for (label, entry) in inputs {
        let ListEntry::InnerList(inner) = entry else {
            continue;
        };
        let param = |name| inner.params.get(name);
        let text = |name| {
            param(name)
                .and_then(|v: &BareItem| v.as_string())
                .map(|s| s.as_str())
        };
        let time = |name| {
            param(name)
                .and_then(|v: &BareItem| v.as_integer())
                .and_then(|i| u64::try_from(i).ok())
        };
        let (Some(keyid), Some(created), Some(expires)) =
            (text("keyid"), time("created"), time("expires"))
        else {
            continue;
        };
        if text("tag") != Some(DIRECTORY_TAG)
            || text("alg").is_some_and(|alg| alg != "ed25519")
            || created > now.saturating_add(SKEW)
            || now > expires.saturating_add(SKEW)
        {
            continue;
        }
        let covers_digest = inner.items.iter().any(|i| {
            i.bare_item
                .as_string()
                .is_some_and(|s| s.as_str() == "content-digest")
        });
        if covers_digest && !digest_ok {
            continue;
        }
        let (Some(key), Some(sig)) = (keys.get(keyid), sigs.get(label.as_str())) else {
            continue;
        };
        let Some(sig) = (match sig {
            ListEntry::Item(item) => item
                .bare_item
                .as_byte_sequence()
                .and_then(|b| <[u8; 64]>::try_from(b).ok()),
            ListEntry::InnerList(_) => None,
        }) else {
            continue;
        };
        let Some(base) = directory_base(&inner, authority, digest.as_deref().unwrap_or("")) else {
            continue;
        };
        if key
            .key
            .verify_strict(base.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
        {
            signed.insert(keyid.to_owned());
        }
    }
    signed
}

fn digest_matches(field: &str, body: &[u8]) -> bool {
    let Ok(dict) = Parser::new(field).parse_dictionary() else {
        return false;
    };
    match dict.get("sha-256") {
        Some(ListEntry::Item(item)) => item
            .bare_item
            .as_byte_sequence()
            .is_some_and(|d| d == ring::digest::digest(&ring::digest::SHA256, body).as_ref()),
        _ => false,
    }
}

/// The base of a directory self-signature: `"@authority";req` and optionally `"content-digest"`,
/// each once, in any order; anything else is not a directory self-signature (`None`).
fn directory_base(inner: &InnerList, authority: &str, content_digest: &str) -> Option<String> {
    let mut out = String::with_capacity(256);
    let mut seen = (false, false);
    for item in &inner.items {
        let name = item.bare_item.as_string()?.as_str();
        let value = match (name, item.params.len(), item.params.get("req")) {
            ("@authority", 1, Some(BareItem::Boolean(true))) if !seen.0 => {
                seen.0 = true;
                authority
            }
            ("content-digest", 0, _) if !seen.1 => {
                seen.1 = true;
                content_digest
            }
            _ => return None,
        };
        out.push_str(&item.serialize_value());
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    if !seen.0 {
        return None;
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(&serialize_inner_list(inner));
    out.is_ascii().then_some(out)
}

/// The headers of a self-signed directory response, for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySignature {
    /// `Content-Digest` value: `sha-256=:…:`.
    pub content_digest: String,
    /// `Signature-Input` member: `label=("@authority";req "content-digest");created;expires;keyid;tag`.
    pub signature_input: String,
    /// `Signature` member: `label=:…:`.
    pub signature: String,
}

/// Signs a directory `body` served at `authority` (`host[:port]` of the request) with `key`,
/// as toll-booth.md §1.6. Several keys: one label each, members joined with `", "`.
pub fn sign_directory(
    body: &[u8],
    authority: &str,
    label: &str,
    created: u64,
    expires: u64,
    key: &SigningKey,
) -> Option<DirectorySignature> {
    sfv::KeyRef::from_str(label).ok()?;
    let content_digest = format!(
        "sha-256=:{}:",
        STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, body))
    );
    let string = |s: &str| {
        sfv::String::from_string(s.to_owned())
            .ok()
            .map(BareItem::String)
    };
    let mut authority_item = Item::new(string("@authority")?);
    authority_item
        .params
        .insert(sfv::key_ref("req").to_owned(), BareItem::Boolean(true));
    let items = vec![authority_item, Item::new(string("content-digest")?)];
    let mut params = sfv::Parameters::new();
    params.insert(
        sfv::key_ref("created").to_owned(),
        BareItem::try_from(created).ok()?,
    );
    params.insert(
        sfv::key_ref("expires").to_owned(),
        BareItem::try_from(expires).ok()?,
    );
    let keyid = thumbprint(&key.verifying_key().to_bytes());
    params.insert(sfv::key_ref("keyid").to_owned(), string(&keyid)?);
    params.insert(sfv::key_ref("tag").to_owned(), string(DIRECTORY_TAG)?);
    let inner = InnerList::with_params(items, params);
    let base = directory_base(&inner, authority, &content_digest)?;
    let signature = key.sign(base.as_bytes()).to_bytes();
    Some(DirectorySignature {
        signature_input: format!("{label}={}", serialize_inner_list(&inner)),
        signature: format!("{label}=:{}:", STANDARD.encode(signature)),
        content_digest,
    })
}

/// `max-age` (or 0 for `no-store` / `no-cache`) clamped to [`min`, `max_ttl`], else `default_ttl`.
pub(super) fn cache_ttl(headers: &HeaderMap, limits: &Limits, min: Duration) -> Duration {
    let mut max_age: Option<u64> = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("").split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if let Some(secs) = directive.strip_prefix("max-age=") {
                max_age = Some(secs.trim_matches('"').parse().unwrap_or(0));
            } else if directive == "no-store" || directive == "no-cache" {
                max_age = Some(0);
            }
        }
    }
    let ceiling = limits.max_ttl.max(min);
    match max_age {
        Some(secs) => Duration::from_secs(secs).clamp(min, ceiling),
        None => limits.default_ttl.min(limits.max_ttl),
    }
}

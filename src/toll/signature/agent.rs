//! The signature agent a Web Bot Auth signature names: the covered `Signature-Agent` member
//! (sf-Dictionary, or the legacy bare sf-String), its `type`, and the URL its keys are fetched from.

use sfv::{BareItem, Item, ListEntry, Parser};

use super::base::{field_value, normalize_authority};
use super::{AgentKind, DIRECTORY_PATH, Message, ParseOptions, SigError, SigError::Malformed};

pub(super) fn string_param<'p>(
    params: &'p sfv::Parameters,
    name: &str,
) -> Result<Option<&'p str>, SigError> {
    match params.get(name) {
        None => Ok(None),
        Some(BareItem::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Malformed(
            "signature parameter of the wrong type (want sf-String)",
        )),
    }
}

pub(super) fn time_param(params: &sfv::Parameters, name: &str) -> Result<Option<u64>, SigError> {
    match params.get(name) {
        None => Ok(None),
        Some(BareItem::Integer(i)) => u64::try_from(*i)
            .map(Some)
            .map_err(|_| Malformed("negative time parameter")),
        Some(_) => Err(Malformed("time parameter is not an sf-Integer")),
    }
}

/// The agent's kind, URL as sent, and key URL, from the `Signature-Agent` member the signature covers.
pub(super) fn resolve_agent(
    msg: &Message<'_>,
    covered: &Item,
    opts: &ParseOptions,
) -> Result<(AgentKind, String, String), SigError> {
    let raw = field_value(msg.headers, "signature-agent")?
        .ok_or(Malformed("Signature-Agent header missing"))?;
    let key = string_param(&covered.params, "key")
        .map_err(|_| Malformed("key= on signature-agent is not an sf-String"))?;
    let (kind, url) = if raw.starts_with('"') {
        if !opts.accept_legacy {
            return Err(Malformed("legacy sf-String Signature-Agent refused"));
        }
        if key.is_some() {
            return Err(Malformed(
                "key= covered on a legacy (sf-String) Signature-Agent",
            ));
        }
        let item = Parser::new(&raw)
            .parse_item()
            .map_err(|_| Malformed("legacy Signature-Agent is not an sf-String"))?;
        let url = item
            .bare_item
            .as_string()
            .ok_or(Malformed("Signature-Agent is not an sf-String"))?;
        (AgentKind::Legacy, url.as_str().to_owned())
    } else {
        let key = key.ok_or(Malformed(
            "dictionary Signature-Agent covered without key=\"…\"",
        ))?;
        let dict = Parser::new(&raw)
            .parse_dictionary()
            .map_err(|_| Malformed("Signature-Agent is not an sf-Dictionary"))?;
        let Some(ListEntry::Item(member)) = dict.get(key) else {
            return Err(Malformed(
                "Signature-Agent has no item member named by key=",
            ));
        };
        let url = member
            .bare_item
            .as_string()
            .ok_or(Malformed("Signature-Agent member is not an sf-String"))?;
        let kind = match member.params.get("type") {
            None => AgentKind::Directory,
            Some(t) => match t
                .as_token()
                .map(|t| t.as_str())
                .or(t.as_string().map(|s| s.as_str()))
            {
                Some("directory") => AgentKind::Directory,
                Some("jwks_uri") => AgentKind::JwksUri,
                Some("cimd") => AgentKind::Cimd,
                _ => return Err(Malformed("unknown Signature-Agent type")),
            },
        };
        (kind, url.as_str().to_owned())
    };
    let key_url = key_url(kind, &url, opts.allow_http)?;
    Ok((kind, url, key_url))
}

/// Where `url`'s keys are fetched from; scheme and host lowercased, default port dropped.
fn key_url(kind: AgentKind, url: &str, allow_http: bool) -> Result<String, SigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Malformed("Signature-Agent is not a URI"))?;
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") if allow_http => {}
        _ => return Err(Malformed("Signature-Agent is not an https URL")),
    }
    let scheme = scheme.unwrap_or_default();
    let authority = uri
        .authority()
        .ok_or(Malformed("Signature-Agent URL has no host"))?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return Err(Malformed("Signature-Agent URL has userinfo or no host"));
    }
    let origin = format!(
        "{scheme}://{}",
        normalize_authority(&scheme, authority.as_str())
    );
    match kind {
        AgentKind::Directory | AgentKind::Legacy => {
            if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
                return Err(Malformed("directory Signature-Agent must be an origin"));
            }
            Ok(format!("{origin}{DIRECTORY_PATH}"))
        }
        AgentKind::JwksUri | AgentKind::Cimd => Ok(format!(
            "{origin}{}",
            uri.path_and_query().map_or("/", |pq| pq.as_str())
        )),
    }
}

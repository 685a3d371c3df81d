//! The RFC 9421 §2.5 signature base of a request: covered component values (derived components,
//! header fields, `;key=` dictionary members) and the `@signature-params` line. Signing and
//! verification both build the base here. `@signature-params` is the parsed inner list serialized
//! again (RFC 9421 §2.3), byte-identical to the sent text whenever the signer serialized canonically.

use std::fmt::Write as _;

use http::HeaderMap;
use sfv::{BareItem, InnerList, Item, Parser, SerializeValue as _};

use super::{Message, SigError, SigError::Malformed};

/// An inner list with its parameters, serialized (the `@signature-params` value).
pub(crate) fn serialize_inner_list(inner: &InnerList) -> String {
    let mut out = String::with_capacity(160);
    {
        let mut ser = sfv::ListSerializer::with_buffer(&mut out);
        let mut list = ser.inner_list();
        list.items(&inner.items);
        let _ = list.finish().parameters(&inner.params);
    }
    out
}

/// RFC 9421 §2.5: one line per covered component, then `"@signature-params"`, no final newline.
pub(super) fn signature_base(msg: &Message<'_>, inner: &InnerList) -> Result<Vec<u8>, SigError> {
    let mut out = String::with_capacity(320);
    for (i, item) in inner.items.iter().enumerate() {
        if inner.items[..i].contains(item) {
            return Err(Malformed("component covered twice"));
        }
        let value = component_value(msg, item)?;
        let _ = writeln!(out, "{}: {value}", item.serialize_value());
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(&serialize_inner_list(inner));
    if !out.is_ascii() {
        return Err(Malformed("non-ASCII signature base"));
    }
    Ok(out.into_bytes())
}

pub(super) fn component_name(item: &Item) -> Result<&str, SigError> {
    let name = item
        .bare_item
        .as_string()
        .ok_or(Malformed("component identifier is not an sf-String"))?
        .as_str();
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Malformed("component names must be lowercase"));
    }
    Ok(name)
}

/// The value of one covered component.
fn component_value(msg: &Message<'_>, item: &Item) -> Result<String, SigError> {
    let name = component_name(item)?;
    let value = if name.starts_with('@') {
        if !item.params.is_empty() {
            return Err(Malformed(
                "parameters on derived components are not supported",
            ));
        }
        let (path, query) = split_path(msg.path_and_query);
        match name {
            "@authority" => authority(msg)?,
            "@method" => msg.method.to_owned(),
            "@scheme" => msg.scheme.to_ascii_lowercase(),
            "@path" => path.to_owned(),
            "@query" => format!("?{}", query.unwrap_or("")),
            "@target-uri" => target_uri(msg)?,
            _ => {
                return Err(Malformed(
                    "unsupported derived component (@authority @method @path @query @target-uri @scheme only)",
                ));
            }
        }
    } else {
        let raw =
            field_value(msg.headers, name)?.ok_or(Malformed("covered header field absent"))?;
        match item.params.iter().next() {
            None => raw,
            Some((k, BareItem::String(member)))
                if k.as_str() == "key" && item.params.len() == 1 =>
            {
                let dict = Parser::new(&raw)
                    .parse_dictionary()
                    .map_err(|_| Malformed("field covered with key= is not an sf-Dictionary"))?;
                let entry = dict
                    .get(member.as_str())
                    .ok_or(Malformed("dictionary member named by key= absent"))?;
                vec![entry.clone()]
                    .serialize_value()
                    .ok_or(Malformed("dictionary member does not serialize"))?
            }
            Some(_) => return Err(Malformed("unsupported field parameter (only key=\"…\")")),
        }
    };
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(Malformed("control character in a component value"));
    }
    Ok(value)
}

/// A header's field lines, each trimmed, joined with `", "`; `None` when absent.
pub(crate) fn field_value(headers: &HeaderMap, name: &str) -> Result<Option<String>, SigError> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let v = value
            .to_str()
            .map_err(|_| Malformed("non-ASCII header value"))?
            .trim_matches([' ', '\t']);
        match &mut out {
            None => out = Some(v.to_owned()),
            Some(o) => {
                o.push_str(", ");
                o.push_str(v);
            }
        }
    }
    Ok(out)
}

pub(super) fn split_path(path_and_query: &str) -> (&str, Option<&str>) {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

/// Lowercased `host[:port]`, the port dropped only when it is the scheme's default.
pub(super) fn normalize_authority(scheme: &str, authority: &str) -> String {
    let lower = authority.to_ascii_lowercase();
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return lower,
    };
    match lower.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && (!host.contains(':') || host.ends_with(']'))
                && port.parse::<u16>() == Ok(default) =>
        {
            host.to_owned()
        }
        _ => lower,
    }
}

fn authority(msg: &Message<'_>) -> Result<String, SigError> {
    if msg.authority.is_empty() {
        return Err(Malformed("request has no authority"));
    }
    Ok(normalize_authority(msg.scheme, msg.authority))
}

fn target_uri(msg: &Message<'_>) -> Result<String, SigError> {
    let pq = if msg.path_and_query.starts_with('/') {
        msg.path_and_query.to_owned()
    } else {
        format!("/{}", msg.path_and_query)
    };
    Ok(format!(
        "{}://{}{pq}",
        msg.scheme.to_ascii_lowercase(),
        authority(msg)?
    ))
}

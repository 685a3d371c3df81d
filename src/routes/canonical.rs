//! The pricing view of a request path: the path as the most lenient mainstream origin could read
//! it, so that a spelling any of them takes for a priced resource is priced here too.
//!
//! Origins disagree on what a path names. Tomcat and Jetty drop `;params` from each segment (and
//! then resolve `..;` as `..`); IIS drops trailing dots and spaces; Express, ASP.NET and IIS
//! compare case-insensitively (the route table folds case per route, not this view). The view
//! folds the first two away before dot segments are resolved; what it cannot fold safely it
//! refuses: an encoded `/` or `\`, a raw `\`, a `#`, and a segment made only of dots and spaces
//! (`...`, `.. `), which Windows origins read as `.` or `..`. Pure string work; no allocation
//! when the path needs no folding.

use std::borrow::Cow;

/// Why a path is refused with 400 instead of priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmbiguousPath {
    /// `%2F`, `%5C` or a raw `\`: origins disagree on whether it splits a segment.
    #[error("encoded '/' and '\\' are not accepted in the path")]
    EncodedSeparator,
    /// A `#` reached the server: fragments are never sent by clients, some origins cut there.
    #[error("'#' is not accepted in a request path")]
    Fragment,
    /// A segment of only dots and spaces (`...`): Windows origins read it as `.` or `..`.
    #[error("a path segment made only of dots and spaces is not accepted")]
    DotsOnly,
}

/// The path used for pricing: dot segments resolved (never above the root), `//` collapsed,
/// unreserved escapes decoded, other escapes in upper-case hex, raw non-ASCII bytes escaped,
/// `;params` and trailing dots and spaces of each segment removed. Case is kept (the route table
/// folds it). `path` is the request path without the query.
pub fn pricing_path(path: &str) -> Result<Cow<'_, str>, AmbiguousPath> {
    refuse_ambiguous(path)?;
    if !needs_folding(path) {
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len());
    let mut trailing_slash = false;
    for raw in path.split('/').skip(1) {
        let decoded = canonical_segment(raw);
        let without_params = decoded.split(';').next().unwrap_or("");
        trailing_slash = true;
        match without_params {
            "" => continue,
            "." => continue,
            ".." => {
                let cut = out.rfind('/').unwrap_or(0);
                out.truncate(cut);
                continue;
            }
            _ => {}
        }
        let seg = strip_trailing_dots_and_spaces(without_params);
        if seg.is_empty() {
            return Err(AmbiguousPath::DotsOnly);
        }
        trailing_slash = false;
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// Refuses paths that no single reading can price safely.
pub fn refuse_ambiguous(path: &str) -> Result<(), AmbiguousPath> {
    let b = path.as_bytes();
    if b.contains(&b'#') {
        return Err(AmbiguousPath::Fragment);
    }
    let encoded_separator = b.windows(3).any(|w| {
        w[0] == b'%'
            && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
                || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
    });
    if b.contains(&b'\\') || encoded_separator {
        return Err(AmbiguousPath::EncodedSeparator);
    }
    Ok(())
}

/// Whether anything in `path` would change under folding (one pass, no allocation).
fn needs_folding(path: &str) -> bool {
    let b = path.as_bytes();
    let mut seg_start = 1;
    for i in 1..=b.len() {
        if i < b.len() && b[i] != b'/' {
            let c = b[i];
            if c == b'%' || c == b';' || c >= 0x80 {
                return true;
            }
            continue;
        }
        let seg = &b[seg_start..i];
        // `//`, a `.`/`..` segment, or a segment ending in a dot (spaces are always escaped).
        if seg.is_empty() && i < b.len() || seg.last() == Some(&b'.') {
            return true;
        }
        seg_start = i + 1;
    }
    false
}

/// One segment in canonical spelling: unreserved escapes decoded (to a fixpoint), the rest in
/// upper-case hex, raw non-ASCII escaped. Route literals are compiled through the same function.
pub(crate) fn canonical_segment(raw: &str) -> Cow<'_, str> {
    match super::matcher::decode_unreserved_fully(raw) {
        Cow::Borrowed(b) => canonical_escapes(b),
        Cow::Owned(o) => Cow::Owned(canonical_escapes(&o).into_owned()),
    }
}

/// Escapes raw non-ASCII bytes and upper-cases the hex of every `%XY` escape, so that each
/// spelling of one byte sequence compares equal. Borrows when nothing changes.
fn canonical_escapes(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let lower_hex = |i: usize| {
        b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
            && (b[i + 1].is_ascii_lowercase() || b[i + 2].is_ascii_lowercase())
    };
    if !(0..b.len()).any(|i| b[i] >= 0x80 || lower_hex(i)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c >= 0x80 {
            out.push_str(&format!("%{c:02X}"));
            i += 1;
        } else if lower_hex(i) {
            out.push('%');
            out.push(char::from(b[i + 1].to_ascii_uppercase()));
            out.push(char::from(b[i + 2].to_ascii_uppercase()));
            i += 3;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Drops trailing `.` and (escaped) spaces, as IIS does for each segment.
fn strip_trailing_dots_and_spaces(mut seg: &str) -> &str {
    loop {
        if let Some(s) = seg.strip_suffix('.') {
            seg = s;
        } else if let Some(s) = seg.strip_suffix("%20") {
            seg = s;
        } else {
            return seg;
        }
    }
}

#[cfg(test)]
mod tests;

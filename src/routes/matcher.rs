//! The three per-route matchers (host pattern, method set, path pattern), compiled
//! from the operator's strings, plus the request-side helpers they share with the
//! index in `mod.rs`: request path normalisation (`normalize_path`), host
//! normalisation (port and trailing-dot stripping) and segment splitting. Each
//! matcher can test a single request (used for the reference linear scan and for
//! capture extraction) and decide whether it *covers* another matcher of its kind
//! (used for shadowing analysis). Nothing here allocates on the request path.

use std::borrow::Cow;
use std::fmt;

/// Why a route's host, method or path string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The host pattern is malformed; `reason` says how.
    InvalidHost { host: String, reason: &'static str },
    /// A method is not an HTTP token.
    InvalidMethod(String),
    /// The path pattern does not start with `/`.
    PathMissingSlash(String),
    /// `**` appears before the last segment.
    DoubleStarNotLast,
    /// `:` with nothing after it.
    EmptyParamName,
    /// A `:param` name with characters outside `[A-Za-z0-9_]`.
    InvalidParamName(String),
    /// The same `:param` name twice in one pattern.
    DuplicateParamName(String),
    /// `//` inside the path pattern.
    EmptySegment(String),
    /// A literal segment that could never match a normalized path.
    InvalidSegment {
        segment: String,
        reason: &'static str,
    },
    /// More routes than the index can number (`u32::MAX`).
    TooManyRoutes,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHost { host, reason } => write!(
                f,
                "invalid host pattern `{host}`: {reason}; expected `*`, an exact host such as \
                 `api.example.com`, or a leading wildcard such as `*.example.com`"
            ),
            Self::InvalidMethod(m) => write!(
                f,
                "invalid HTTP method `{m}`: expected a method token such as `GET` or `PURGE`, \
                 or `*` for any method"
            ),
            Self::PathMissingSlash(p) => {
                write!(f, "path pattern must start with `/`, got `{p}`")
            }
            Self::DoubleStarNotLast => write!(f, "`**` is only allowed as the last path segment"),
            Self::EmptyParamName => write!(f, "empty `:param` name; expected e.g. `:id`"),
            Self::InvalidParamName(n) => write!(
                f,
                "invalid `:param` name `{n}`: only ASCII letters, digits and `_` are allowed"
            ),
            Self::DuplicateParamName(n) => {
                write!(
                    f,
                    "`:{n}` is used twice in one path pattern; names must be unique"
                )
            }
            Self::EmptySegment(p) => write!(
                f,
                "path pattern `{p}` contains an empty segment (`//`); requests are normalized so \
                 it could never match"
            ),
            Self::InvalidSegment { segment, reason } => {
                write!(f, "invalid path segment `{segment}`: {reason}")
            }
            Self::TooManyRoutes => write!(f, "too many routes: at most 4294967294 are supported"),
        }
    }
}

impl std::error::Error for PatternError {}

// ---------------------------------------------------------------- host

/// A compiled host pattern. Stored names are lowercase, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// `*` (or empty): any host.
    Any,
    /// `api.example.com`.
    Exact(Box<str>),
    /// `*.example.com`, stored as `example.com`.
    Suffix(Box<str>),
}

impl HostPattern {
    pub(crate) fn compile(raw: &str) -> Result<Self, PatternError> {
        let err = |reason| PatternError::InvalidHost {
            host: raw.to_owned(),
            reason,
        };
        if raw.is_empty() || raw == "*" {
            return Ok(Self::Any);
        }
        let trimmed = raw.strip_suffix('.').unwrap_or(raw);
        let (wild, name) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        validate_host_name(name).map_err(err)?;
        let name = name.to_ascii_lowercase().into_boxed_str();
        Ok(if wild {
            Self::Suffix(name)
        } else {
            Self::Exact(name)
        })
    }

    /// `host` must already have gone through [`host_without_port`]. (The index does
    /// this by hash lookups; this is the reference used by the linear scan.)
    #[cfg(test)]
    pub(crate) fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Suffix(suffix) => has_wildcard_suffix(host, suffix),
        }
    }

    /// True if every host `other` matches is also matched by `self`.
    pub(crate) fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Any, _) => true,
            (_, Self::Any) => false,
            (Self::Suffix(a), Self::Suffix(b)) => a == b || has_wildcard_suffix(b, a),
            (Self::Suffix(a), Self::Exact(b)) => has_wildcard_suffix(b, a),
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Exact(_), Self::Suffix(_)) => false,
        }
    }
}

fn validate_host_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the host name is empty");
    }
    if name.contains('*') {
        return Err("`*` is only allowed alone or as a leading `*.` label");
    }
    if let Some(inner) = name.strip_prefix('[') {
        // IPv6 literal.
        let ok = inner.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        });
        return if ok {
            Ok(())
        } else {
            Err("an IPv6 literal must look like `[::1]`")
        };
    }
    if name.contains(':') {
        return Err("host patterns must not include a port");
    }
    if name.split('.').any(str::is_empty) {
        return Err("it has an empty label (`..` or a leading `.`)");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("only ASCII letters, digits, `-`, `_` and `.` are allowed");
    }
    Ok(())
}

/// `host` ends with `.suffix` (ASCII case-insensitive) with at least one byte before the dot.
fn has_wildcard_suffix(host: &str, suffix: &str) -> bool {
    let (h, s) = (host.as_bytes(), suffix.as_bytes());
    h.len() > s.len() + 1
        && h[h.len() - s.len() - 1] == b'.'
        && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
}

/// Strips a `:port` suffix (respecting `[v6]` literals) and one trailing dot.
pub(crate) fn host_without_port(host: &str) -> &str {
    let h = if host.starts_with('[') {
        match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        }
    } else {
        match host.find(':') {
            Some(i) => &host[..i],
            None => host,
        }
    };
    h.strip_suffix('.').unwrap_or(h)
}

// ---------------------------------------------------------------- methods

const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

fn known_method_bit(m: &str) -> u16 {
    KNOWN_METHODS
        .iter()
        .position(|k| *k == m)
        .map_or(0, |i| 1 << i)
}

/// A request method resolved once per request: its bit if it is a common method.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MethodKey<'a> {
    bit: u16,
    raw: &'a str,
}

impl<'a> MethodKey<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Self {
            bit: known_method_bit(raw),
            raw,
        }
    }
}

/// A set of methods: a bitset for the common ones plus a list of extension methods.
/// Methods are case-sensitive tokens (RFC 9110 §9.1), so `get` is an extension method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodSet {
    any: bool,
    bits: u16,
    extensions: Vec<Box<str>>,
}

impl MethodSet {
    /// An empty list, or one containing `*`, means any method.
    pub(crate) fn compile(methods: &[&str]) -> Result<Self, PatternError> {
        let mut set = Self {
            any: methods.is_empty(),
            bits: 0,
            extensions: Vec::new(),
        };
        for &m in methods {
            if m == "*" {
                set.any = true;
                continue;
            }
            if m.is_empty() || !m.bytes().all(is_tchar) {
                return Err(PatternError::InvalidMethod(m.to_owned()));
            }
            match known_method_bit(m) {
                0 => {
                    if !set.extensions.iter().any(|e| **e == *m) {
                        set.extensions.push(m.into());
                    }
                }
                bit => set.bits |= bit,
            }
        }
        if set.any {
            set.bits = 0;
            set.extensions.clear();
        }
        Ok(set)
    }

    /// Whether the set is "any method".
    pub(crate) fn is_any(&self) -> bool {
        self.any
    }

    pub(crate) fn matches(&self, m: MethodKey<'_>) -> bool {
        if self.any {
            return true;
        }
        if m.bit != 0 {
            self.bits & m.bit != 0
        } else {
            self.extensions.iter().any(|e| **e == *m.raw)
        }
    }

    /// True if `self` ⊇ `other`. `*` is only covered by `*`.
    pub(crate) fn covers(&self, other: &Self) -> bool {
        self.any
            || (!other.any
                && other.bits & !self.bits == 0
                && other.extensions.iter().all(|e| self.extensions.contains(e)))
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------- path

/// One non-`**` segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Exact, case-sensitive text (already percent-normalized like requests are).
    Literal(Box<str>),
    /// Text matched ignoring ASCII case (the default), stored lowercase.
    Folded(Box<str>),
    /// `:name`: one non-empty segment, captured.
    Param(Box<str>),
    /// `*`: one non-empty segment, not captured.
    Star,
}

/// A compiled path pattern: fixed segments, optionally followed by `**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    pub(crate) segments: Vec<Segment>,
    /// Ends with `**` (zero or more further segments).
    pub(crate) tail: bool,
}

impl PathPattern {
    /// Compiles a pattern; literal segments compare ASCII-case-insensitively unless `case_sensitive`.
    pub(crate) fn compile(raw: &str, case_sensitive: bool) -> Result<Self, PatternError> {
        let Some(body) = raw.strip_prefix('/') else {
            return Err(PatternError::PathMissingSlash(raw.to_owned()));
        };
        if raw.contains("//") {
            return Err(PatternError::EmptySegment(raw.to_owned()));
        }
        let body = body.strip_suffix('/').unwrap_or(body);
        let mut pattern = Self {
            segments: Vec::new(),
            tail: false,
        };
        if body.is_empty() {
            return Ok(pattern);
        }
        let mut pieces = body.split('/').peekable();
        while let Some(piece) = pieces.next() {
            let seg = match piece {
                "**" if pieces.peek().is_none() => {
                    pattern.tail = true;
                    break;
                }
                "**" => return Err(PatternError::DoubleStarNotLast),
                "*" => Segment::Star,
                _ => match piece.strip_prefix(':') {
                    Some(name) => Segment::Param(check_param_name(name, &pattern.segments)?),
                    None if case_sensitive => Segment::Literal(check_literal(piece)?),
                    None => Segment::Folded(check_literal(piece)?.to_ascii_lowercase().into()),
                },
            };
            pattern.segments.push(seg);
        }
        Ok(pattern)
    }

    /// Does this pattern match the (normalized) request path?
    #[cfg(test)]
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.walk(path, |_, _| {})
    }

    /// Matches and reports each `:param` capture; returns whether it matched.
    pub(crate) fn walk<'t, 'p>(
        &'t self,
        path: &'p str,
        mut capture: impl FnMut(&'t str, &'p str),
    ) -> bool {
        let mut rest = path;
        for seg in &self.segments {
            let Some((value, after)) = next_segment(rest) else {
                return false;
            };
            match seg {
                Segment::Literal(lit) if **lit != *value => return false,
                Segment::Folded(lit) if !lit.eq_ignore_ascii_case(value) => return false,
                Segment::Param(name) => capture(name, value),
                _ => {}
            }
            rest = after;
        }
        self.tail || next_segment(rest).is_none()
    }

    /// True if every path `other` matches is also matched by `self` (segment-wise).
    pub(crate) fn covers(&self, other: &Self) -> bool {
        if other.tail && !self.tail {
            return false;
        }
        let len_ok = if self.tail {
            other.segments.len() >= self.segments.len()
        } else {
            other.segments.len() == self.segments.len()
        };
        len_ok
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| match (a, b) {
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                    // A folded literal matches every spelling of its text.
                    (Segment::Folded(x), Segment::Literal(y) | Segment::Folded(y)) => {
                        x.eq_ignore_ascii_case(y)
                    }
                    // An exact literal covers a folded one only when case cannot vary.
                    (Segment::Literal(x), Segment::Folded(y)) => {
                        x == y && !y.bytes().any(|b| b.is_ascii_alphabetic())
                    }
                    (Segment::Literal(_) | Segment::Folded(_), _) => false,
                    (Segment::Param(_) | Segment::Star, _) => true,
                })
    }
}

fn check_param_name(name: &str, earlier: &[Segment]) -> Result<Box<str>, PatternError> {
    if name.is_empty() {
        return Err(PatternError::EmptyParamName);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(PatternError::InvalidParamName(name.to_owned()));
    }
    if earlier
        .iter()
        .any(|s| matches!(s, Segment::Param(n) if **n == *name))
    {
        return Err(PatternError::DuplicateParamName(name.to_owned()));
    }
    Ok(name.into())
}

fn check_literal(piece: &str) -> Result<Box<str>, PatternError> {
    let err = |reason| PatternError::InvalidSegment {
        segment: piece.to_owned(),
        reason,
    };
    if piece.contains('*') {
        return Err(err(
            "`*` must be a whole segment (`*` for one segment, `**` for the rest)",
        ));
    }
    if piece.contains(['?', '#']) {
        return Err(err(
            "`?` and `#` cannot appear in a path pattern (queries and fragments are stripped)",
        ));
    }
    if piece.contains(';') {
        return Err(err(
            "`;` cannot appear in a path pattern: `;params` are folded away before matching, as \
             Tomcat and Jetty do",
        ));
    }
    let decoded = super::canonical::canonical_segment(piece).into_owned();
    if decoded == "." || decoded == ".." {
        return Err(err(
            "`.` and `..` segments are resolved away before matching, so they never match",
        ));
    }
    if decoded.ends_with('.') || decoded.ends_with("%20") {
        return Err(err(
            "a segment cannot end with `.` or a space: trailing dots and spaces are folded away \
             before matching, as IIS does",
        ));
    }
    Ok(decoded.into())
}

/// Splits off the next non-empty segment: `"/a/b"` → `("a", "/b")`. Empty segments
/// (from `//` or a trailing `/`) are skipped.
#[inline]
pub(crate) fn next_segment(rest: &str) -> Option<(&str, &str)> {
    // A plain byte loop beats `memchr` for typical (short) segments.
    let bytes = rest.as_bytes();
    let start = bytes.iter().position(|&b| b != b'/')?;
    let end = bytes[start..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(bytes.len(), |i| start + i);
    Some((&rest[start..end], &rest[end..]))
}

// ---------------------------------------------------------------- normalisation

/// Normalizes a request path for matching: strips `?query` / `#fragment`, collapses
/// repeated `/`, resolves `.` and `..` (never above the root) and percent-decodes only
/// unreserved characters (`ALPHA / DIGIT / - . _ ~`), so `%2F` stays encoded and never
/// splits a segment. Invalid escapes are kept as they are; a trailing `/` is kept.
/// Input not starting with `/` (absolute-form, `*`) is returned unchanged. Borrows when
/// nothing but the query needs removing.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if !path.starts_with('/') {
        return Cow::Borrowed(path);
    }
    let path = path.find(['?', '#']).map_or(path, |i| &path[..i]);
    if !needs_rewrite(path) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut trailing_slash = false;
    for raw in path[1..].split('/') {
        let seg = decode_unreserved_fully(raw);
        trailing_slash = matches!(&*seg, "" | "." | "..");
        match &*seg {
            "" | "." => {}
            ".." => {
                let cut = out.rfind('/').unwrap_or(0);
                out.truncate(cut);
            }
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Cow::Owned(out)
}

fn needs_rewrite(path: &str) -> bool {
    path.contains("//")
        || path[1..].split('/').any(|s| s == "." || s == "..")
        || path.contains('%') && matches!(decode_unreserved(path), Cow::Owned(_))
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The unreserved character encoded by `%XY` at the start of `bytes`, if any.
fn unreserved_escape(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [b'%', hi, lo, ..] => {
            let c = hex_val(*hi)? << 4 | hex_val(*lo)?;
            is_unreserved(c).then_some(c)
        }
        _ => None,
    }
}

/// Decodes unreserved escapes until none is left (`%2%65` → `%2e` → `.`), as an origin that decodes
/// twice would read it; this makes normalization idempotent. Borrows when there are none.
pub(crate) fn decode_unreserved_fully(s: &str) -> Cow<'_, str> {
    let mut current = decode_unreserved(s);
    loop {
        match decode_unreserved(&current) {
            Cow::Borrowed(_) => return current,
            Cow::Owned(next) => current = Cow::Owned(next),
        }
    }
}

/// Decodes `%XY` escapes of unreserved characters only; borrows when there are none.
pub(crate) fn decode_unreserved(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let Some(first) = (0..bytes.len()).find(|&i| unreserved_escape(&bytes[i..]).is_some()) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut i = first;
    let mut copied_from = first;
    while i < bytes.len() {
        if let Some(c) = unreserved_escape(&bytes[i..]) {
            out.push_str(&s[copied_from..i]);
            out.push(char::from(c));
            i += 3;
            copied_from = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied_from..]);
    Cow::Owned(out)
}

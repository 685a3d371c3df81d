//! Route table for the reverse proxy: operators list routes in order, and the FIRST
//! route whose host, method and path patterns all match a request wins. This file
//! holds the public API (`RouteSpec`, `RouteTableBuilder`, `RouteTable`, `RouteMatch`,
//! `Params`) and the index that makes `find` (and `unreachable`) sub-linear without changing
//! first-match semantics: routes are partitioned by host pattern (any / exact /
//! `*.suffix`, looked up by hash), and each partition is a segment trie whose nodes
//! record the routes ending there; `find` walks every trie the request host can
//! reach, backtracking over literal and single-segment children, and keeps the
//! smallest route index whose methods also match, pruning subtrees that only hold
//! larger indices. `find` does not allocate unless a route has more than four
//! `:params`. Shadowing and method-gap analysis (`coverage.rs`) walks the same index,
//! with a route's own pattern as the request; `canonical.rs` is the pricing reading of a path.

pub mod canonical;
mod coverage;
mod hash;
mod matcher;
mod params;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use canonical::{AmbiguousPath, pricing_path};
use hash::{FxBuild, host_hash};
use matcher::{HostPattern, MethodKey, MethodSet, PathPattern, Segment, host_without_port};
pub use matcher::{PatternError, normalize_path};
pub use params::Params;

/// One route as the operator writes it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec<'a> {
    /// `*` (or empty) for any host, `api.example.com`, or `*.example.com`.
    pub host: &'a str,
    /// Method tokens; empty or containing `*` means any method.
    pub methods: &'a [&'a str],
    /// Path pattern starting with `/`, e.g. `/users/:id/**`.
    pub path: &'a str,
    /// Literal segments compare exactly; otherwise ignoring ASCII case (Express, IIS, ASP.NET).
    pub case_sensitive: bool,
}

/// The compiled matchers of one route.
#[derive(Debug, Clone)]
struct Rule {
    host: HostPattern,
    methods: MethodSet,
    path: PathPattern,
}

impl Rule {
    /// Reference semantics of a single route (`host` already without port).
    #[cfg(test)]
    fn matches(&self, method: MethodKey<'_>, host: &str, path: &str) -> bool {
        self.methods.matches(method) && self.host.matches(host) && self.path.matches(path)
    }

    fn covers(&self, other: &Self) -> bool {
        self.methods.covers(&other.methods)
            && self.host.covers(&other.host)
            && self.path.covers(&other.path)
    }
}

/// Collects routes in priority order, then builds the indexed [`RouteTable`].
#[derive(Debug, Clone)]
pub struct RouteTableBuilder<P> {
    rules: Vec<Rule>,
    policies: Vec<P>,
}

impl<P> Default for RouteTableBuilder<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> RouteTableBuilder<P> {
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            policies: Vec::new(),
        }
    }

    /// Compiles and appends a route; returns its index (its priority: lower wins).
    pub fn push(&mut self, spec: RouteSpec<'_>, policy: P) -> Result<usize, PatternError> {
        if self.rules.len() >= NONE as usize {
            return Err(PatternError::TooManyRoutes);
        }
        let rule = Rule {
            host: HostPattern::compile(spec.host)?,
            methods: MethodSet::compile(spec.methods)?,
            path: PathPattern::compile(spec.path, spec.case_sensitive)?,
        };
        self.rules.push(rule);
        self.policies.push(policy);
        Ok(self.rules.len() - 1)
    }

    pub fn build(self) -> RouteTable<P> {
        let mut index = Index::default();
        for (id, rule) in (0u32..).zip(&self.rules) {
            let trie = match &rule.host {
                HostPattern::Any => &mut index.any,
                HostPattern::Exact(name) => {
                    index.exact_lens |= len_bit(name.len());
                    host_trie(&mut index.exact, name)
                }
                HostPattern::Suffix(name) => {
                    index.suffix_labels |= len_bit(name.split('.').count());
                    host_trie(&mut index.suffix, name)
                }
            };
            trie.insert(&rule.path, id);
        }
        RouteTable {
            rules: self.rules,
            policies: self.policies,
            index,
        }
    }
}

fn host_trie<'a>(map: &'a mut HostMap, name: &str) -> &'a mut Trie {
    let bucket = map.entry(host_hash(name)).or_default();
    let pos = match bucket.iter().position(|(n, _)| **n == *name) {
        Some(pos) => pos,
        None => {
            bucket.push((name.into(), Trie::default()));
            bucket.len() - 1
        }
    };
    &mut bucket[pos].1
}

/// An immutable, indexed list of routes.
#[derive(Debug, Clone)]
pub struct RouteTable<P> {
    rules: Vec<Rule>,
    policies: Vec<P>,
    index: Index,
}

/// The winning route and its `:param` captures.
#[derive(Debug)]
pub struct RouteMatch<'t, 'p, P> {
    /// Index of the route in insertion order.
    pub index: usize,
    pub policy: &'t P,
    pub params: Params<'t, 'p>,
}

impl<P> RouteTable<P> {
    /// First route (in insertion order) matching method, host and the
    /// already-normalized path (see [`normalize_path`]). `host` may carry a `:port`
    /// and a trailing dot; it is compared case-insensitively. Paths not starting
    /// with `/` never match.
    pub fn find<'t, 'p>(
        &'t self,
        method: &str,
        host: &str,
        path: &'p str,
    ) -> Option<RouteMatch<'t, 'p, P>> {
        if !path.starts_with('/') {
            return None;
        }
        let host = host_without_port(host);
        let lower = lowercase(path);
        let search = Search {
            rules: &self.rules,
            method: MethodKey::new(method),
            path,
            lower: &lower,
        };
        let mut best = NONE;
        let idx = &self.index;
        if idx.exact_lens & len_bit(host.len()) != 0 {
            for trie in host_tries(&idx.exact, host) {
                trie.search(0, 0, &search, &mut best);
            }
        }
        if idx.suffix_labels != 0 {
            // Each `.` (not the first byte) starts a candidate suffix; `labels` counts
            // the labels of that suffix, scanning from the right.
            let mut labels = 0;
            for (i, &b) in host.as_bytes().iter().enumerate().skip(1).rev() {
                if b != b'.' {
                    continue;
                }
                labels += 1;
                if idx.suffix_labels & len_bit(labels) != 0 {
                    for trie in host_tries(&idx.suffix, &host[i + 1..]) {
                        trie.search(0, 0, &search, &mut best);
                    }
                }
            }
        }
        idx.any.search(0, 0, &search, &mut best);
        self.make_match(best as usize, path)
    }

    fn make_match<'t, 'p>(&'t self, index: usize, path: &'p str) -> Option<RouteMatch<'t, 'p, P>> {
        let policy = self.policies.get(index)?;
        let mut params = Params::new();
        let matched = self.rules[index]
            .path
            .walk(path, |name, value| params.push(name, value));
        debug_assert!(matched);
        Some(RouteMatch {
            index,
            policy,
            params,
        })
    }

    /// Reference implementation: a linear scan in insertion order.
    #[cfg(test)]
    fn find_linear<'t, 'p>(
        &'t self,
        method: &str,
        host: &str,
        path: &'p str,
    ) -> Option<RouteMatch<'t, 'p, P>> {
        if !path.starts_with('/') {
            return None;
        }
        let (method, host) = (MethodKey::new(method), host_without_port(host));
        let index = self
            .rules
            .iter()
            .position(|r| r.matches(method, host, path))?;
        self.make_match(index, path)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The policy attached to route `index`.
    pub fn policy(&self, index: usize) -> Option<&P> {
        self.policies.get(index)
    }

    /// Whether any route names a host (then a request whose host is unknown cannot be routed
    /// the way the origin would route it).
    pub fn has_host_scoped(&self) -> bool {
        self.rules
            .iter()
            .any(|r| !matches!(r.host, HostPattern::Any))
    }
}

// ---------------------------------------------------------------- index

/// Route id meaning "no route yet"; also the exclusive upper bound on ids.
const NONE: u32 = u32::MAX;

/// Host name → trie, keyed by an ASCII-case-insensitive hash so a request host
/// can be looked up without lowercasing it into a buffer. Collisions are resolved
/// by the stored (lowercase) names.
type HostMap = HashMap<u64, Vec<(Box<str>, Trie)>, FxBuild>;

fn host_tries<'a>(map: &'a HostMap, host: &'a str) -> impl Iterator<Item = &'a Trie> + 'a {
    map.get(&host_hash(host))
        .into_iter()
        .flatten()
        .filter(move |(name, _)| name.eq_ignore_ascii_case(host))
        .map(|(_, trie)| trie)
}

#[derive(Debug, Clone, Default)]
struct Index {
    any: Trie,
    exact: HostMap,
    suffix: HostMap,
    /// Cheap pre-filters that skip hashing the request host (or its suffixes) when no
    /// pattern could match: bit `len % 64` for each exact host's length, and bit
    /// `labels % 64` for each `*.suffix`'s label count.
    exact_lens: u64,
    suffix_labels: u64,
}

fn len_bit(n: usize) -> u64 {
    1 << (n % 64)
}

/// A segment trie over path patterns; node 0 is the root.
#[derive(Debug, Clone)]
struct Trie {
    nodes: Vec<Node>,
}

impl Default for Trie {
    fn default() -> Self {
        Self {
            nodes: vec![Node::new(NONE)],
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    /// Smallest route id anywhere in this subtree (ids are inserted ascending, so it
    /// is the id of the route that created the node).
    min: u32,
    /// Case-sensitive literal children.
    literals: Literals,
    /// Case-insensitive literal children, keyed by their lowercase text.
    folded: Literals,
    /// Child for `:param` and `*` (both match exactly one non-empty segment).
    single: Option<u32>,
    /// Routes whose pattern ends exactly here, ascending.
    ends: Vec<u32>,
    /// Routes whose pattern ends with `**` here, ascending.
    tails: Vec<u32>,
}

impl Node {
    fn new(min: u32) -> Self {
        Self {
            min,
            literals: Literals::default(),
            folded: Literals::default(),
            single: None,
            ends: Vec::new(),
            tails: Vec::new(),
        }
    }
}

/// Literal children of a trie node: a short list scanned linearly (cheaper than
/// hashing for the few children most nodes have), switching to a hash map when it
/// grows past `SMALL_LITERALS`.
#[derive(Debug, Clone)]
enum Literals {
    Small(Vec<(Box<str>, u32)>),
    Map(HashMap<Box<str>, u32, FxBuild>),
}

const SMALL_LITERALS: usize = 8;

impl Default for Literals {
    fn default() -> Self {
        Self::Small(Vec::new())
    }
}

impl Literals {
    #[inline]
    fn get(&self, seg: &str) -> Option<u32> {
        match self {
            Self::Small(list) => list
                .iter()
                .find(|(lit, _)| lit.len() == seg.len() && **lit == *seg)
                .map(|&(_, child)| child),
            Self::Map(map) => map.get(seg).copied(),
        }
    }

    fn get_or_insert(&mut self, lit: &str, child: u32) -> u32 {
        if let Some(existing) = self.get(lit) {
            return existing;
        }
        match self {
            Self::Small(list) if list.len() < SMALL_LITERALS => list.push((lit.into(), child)),
            Self::Small(list) => {
                let mut map: HashMap<_, _, FxBuild> = list.drain(..).collect();
                map.insert(lit.into(), child);
                *self = Self::Map(map);
            }
            Self::Map(map) => {
                map.insert(lit.into(), child);
            }
        }
        child
    }
}

/// Per-request state shared by all trie walks: the path, and its ASCII-lowercase twin (same
/// byte offsets) for folded literals.
struct Search<'a> {
    rules: &'a [Rule],
    method: MethodKey<'a>,
    path: &'a str,
    lower: &'a str,
}

/// `path` in ASCII lower case; borrows when it has no upper-case letter.
fn lowercase(path: &str) -> std::borrow::Cow<'_, str> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(path.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(path)
    }
}

impl Search<'_> {
    /// Lowers `best` to the first id in the ascending `ids` (below `best`) whose
    /// methods match. The host is implied by the trie being searched.
    #[inline]
    fn take_first(&self, ids: &[u32], best: &mut u32) {
        for &id in ids {
            if id >= *best {
                return;
            }
            if self.rules[id as usize].methods.matches(self.method) {
                *best = id;
                return;
            }
        }
    }
}

impl Trie {
    /// Must be called with ascending ids.
    fn insert(&mut self, path: &PathPattern, id: u32) {
        let mut node = 0usize;
        self.nodes[0].min = self.nodes[0].min.min(id);
        for seg in &path.segments {
            let next = self.nodes.len() as u32;
            let child = match seg {
                Segment::Literal(lit) => self.nodes[node].literals.get_or_insert(lit, next),
                Segment::Folded(lit) => self.nodes[node].folded.get_or_insert(lit, next),
                Segment::Param(_) | Segment::Star => *self.nodes[node].single.get_or_insert(next),
            };
            if child == next {
                self.nodes.push(Node::new(id));
            }
            node = child as usize;
        }
        let list = if path.tail {
            &mut self.nodes[node].tails
        } else {
            &mut self.nodes[node].ends
        };
        list.push(id);
    }

    /// Depth-first walk; each node is reached by at most one path, so the walk visits
    /// at most (segments × matching branches) nodes and never revisits one.
    /// `pos` is the byte offset in `s.path` where the unmatched rest begins.
    fn search(&self, node: usize, pos: usize, s: &Search<'_>, best: &mut u32) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        if n.min >= *best {
            return;
        }
        if !n.tails.is_empty() {
            s.take_first(&n.tails, best);
        }
        match matcher::next_segment(&s.path[pos..]) {
            None => s.take_first(&n.ends, best),
            Some((seg, after)) => {
                let end = s.path.len() - after.len();
                let start = end - seg.len();
                if let Some(child) = n.literals.get(seg) {
                    self.search(child as usize, end, s, best);
                }
                if let Some(child) = n.folded.get(&s.lower[start..end]) {
                    self.search(child as usize, end, s, best);
                }
                if let Some(child) = n.single {
                    self.search(child as usize, end, s, best);
                }
            }
        }
    }
}

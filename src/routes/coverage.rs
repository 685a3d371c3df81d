//! Shadowing and coverage analysis of a route table (config-load work, never the request path):
//! which routes an earlier one makes unreachable (`unreachable`), and which later routes catch the
//! methods a route does not list (`method_gaps`). Both walk the same index `find` uses, with a
//! route's own pattern as the request, and confirm each candidate with the full `covers` check.

use super::matcher::{HostPattern, Segment};
use super::{Node, RouteTable, Rule, Trie, host_tries};

impl<P> RouteTable<P> {
    /// Indices of routes that can never match because an earlier route matches every
    /// request they match (shadowing), each with the index of the first earlier route
    /// that shadows it. Conservative: only certain shadowing by a single earlier route
    /// is reported (a route covered only by the union of several is not).
    ///
    /// Uses the index: a route can only be covered by routes in the host partitions
    /// whose pattern covers its host (any; its exact host; `*.s` for each suffix `s`
    /// of its host), and within a partition only by routes on the trie paths its own
    /// pattern walks (a literal segment follows the same literal and the `:param`/`*`
    /// child, a `:param`/`*` segment only the `:param`/`*` child, and a `**` tail only
    /// meets earlier `**` tails). Each candidate is confirmed with the full `covers`
    /// check, smallest index first with `min` pruning as in `find`, so the result is
    /// the quadratic definition's. Roughly linear in the table size for tables whose
    /// routes do not pile up on one node.
    pub fn unreachable(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (b, target) in (0u32..).zip(&self.rules) {
            let cover = Cover {
                rules: &self.rules,
                target,
            };
            let segments = &target.path.segments[..];
            let mut best = b;
            for trie in self.covering_tries(target) {
                trie.cover_search(0, segments, &cover, &mut best);
            }
            if best < b {
                out.push((b as usize, best as usize));
            }
        }
        out
    }

    /// Later routes (after `index`) that match every host and path route `index` matches and
    /// accept some method it does not, ascending: where the methods a route does not list go.
    /// Used to warn when a priced route lists some methods and a free route catches the rest.
    pub fn method_gaps(&self, index: usize) -> Vec<usize> {
        let Some(target) = self.rules.get(index) else {
            return Vec::new();
        };
        if target.methods.is_any() {
            return Vec::new();
        }
        let cover = Cover {
            rules: &self.rules,
            target,
        };
        let mut out = Vec::new();
        for trie in self.covering_tries(target) {
            trie.collect_covering(0, &target.path.segments, &cover, &mut out);
        }
        out.retain(|&j| {
            j as usize > index && !target.methods.covers(&self.rules[j as usize].methods)
        });
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(|j| j as usize).collect()
    }

    /// The host partitions whose routes may cover `target`'s host: any; its exact host; `*.s`
    /// for each suffix `s` of its host.
    fn covering_tries<'s>(&'s self, target: &'s Rule) -> Vec<&'s Trie> {
        let idx = &self.index;
        let mut tries = Vec::new();
        let name = match &target.host {
            HostPattern::Any => None,
            HostPattern::Exact(name) => {
                tries.extend(host_tries(&idx.exact, name));
                Some(name)
            }
            HostPattern::Suffix(name) => {
                tries.extend(host_tries(&idx.suffix, name));
                Some(name)
            }
        };
        for suffix in name.into_iter().flat_map(|n| wildcard_suffixes(n)) {
            tries.extend(host_tries(&idx.suffix, suffix));
        }
        tries.push(&idx.any);
        tries
    }

    /// Reference implementation of [`Self::unreachable`]: every pair, O(n²).
    #[cfg(test)]
    pub(super) fn unreachable_quadratic(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (b, later) in self.rules.iter().enumerate() {
            if let Some(a) = self.rules[..b].iter().position(|r| r.covers(later)) {
                out.push((b, a));
            }
        }
        out
    }
}

impl Node {
    /// The children whose routes may cover a pattern segment `seg`, in the order `find` visits
    /// them: the same literal (exact and folded spellings; `covers` decides) and the
    /// `:param`/`*` child.
    fn covering_children(&self, seg: &Segment) -> impl Iterator<Item = u32> + use<> {
        let (exact, folded) = match seg {
            Segment::Literal(lit) | Segment::Folded(lit) => (
                self.literals.get(lit),
                self.folded.get(&lit.to_ascii_lowercase()),
            ),
            Segment::Param(_) | Segment::Star => (None, None),
        };
        [exact, folded, self.single].into_iter().flatten()
    }
}

/// The suffixes `s` of `host` that a `*.s` pattern matches it by: the text after each
/// `.` that is not the first byte (as in `find`'s suffix scan).
fn wildcard_suffixes(host: &str) -> impl Iterator<Item = &str> + '_ {
    host.bytes()
        .enumerate()
        .skip(1)
        .filter(|&(_, b)| b == b'.')
        .map(move |(i, _)| &host[i + 1..])
}

/// State of one shadowing query: which earlier route covers `target`?
struct Cover<'a> {
    rules: &'a [Rule],
    target: &'a Rule,
}

impl Cover<'_> {
    /// Lowers `best` to the first id in the ascending `ids` (below `best`) whose route
    /// covers the target.
    fn take_first(&self, ids: &[u32], best: &mut u32) {
        for &id in ids {
            if id >= *best {
                return;
            }
            if self.rules[id as usize].covers(self.target) {
                *best = id;
                return;
            }
        }
    }
}

impl Trie {
    /// Every route (any id, no pruning) whose host and path patterns cover the target's; the
    /// walk is `cover_search`'s. Methods are the caller's business.
    fn collect_covering(&self, node: usize, rest: &[Segment], c: &Cover<'_>, out: &mut Vec<u32>) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        let mut take = |ids: &[u32]| {
            out.extend(ids.iter().copied().filter(|&id| {
                let r = &c.rules[id as usize];
                r.host.covers(&c.target.host) && r.path.covers(&c.target.path)
            }))
        };
        take(&n.tails);
        match rest.split_first() {
            None => {
                if !c.target.path.tail {
                    take(&n.ends);
                }
            }
            Some((seg, after)) => {
                for child in n.covering_children(seg) {
                    self.collect_covering(child as usize, after, c, out);
                }
            }
        }
    }

    /// Like `search`, with the target route's path pattern (`rest`: its segments not
    /// yet consumed) as the request: collects the routes whose pattern covers it. A
    /// route ending here covers it only when the target has no `**` tail; the
    /// target's `:param`/`*` segments can only be covered by `:param`/`*` children.
    fn cover_search(&self, node: usize, rest: &[Segment], c: &Cover<'_>, best: &mut u32) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        if n.min >= *best {
            return;
        }
        if !n.tails.is_empty() {
            c.take_first(&n.tails, best);
        }
        match rest.split_first() {
            None => {
                if !c.target.path.tail {
                    c.take_first(&n.ends, best);
                }
            }
            Some((seg, after)) => {
                for child in n.covering_children(seg) {
                    self.cover_search(child as usize, after, c, best);
                }
            }
        }
    }
}

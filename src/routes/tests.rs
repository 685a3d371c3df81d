//! Tests for the route table: pattern semantics (host, method, path), captures,
//! first-match order and shadowing, request path normalisation, pattern errors,
//! and a randomized equivalence check of the indexed `find` against a linear scan.

use super::*;
use std::borrow::Cow;

fn spec<'a>(host: &'a str, methods: &'a [&'a str], path: &'a str) -> RouteSpec<'a> {
    spec_cs(host, methods, path, true)
}

fn spec_cs<'a>(
    host: &'a str,
    methods: &'a [&'a str],
    path: &'a str,
    case_sensitive: bool,
) -> RouteSpec<'a> {
    RouteSpec {
        host,
        methods,
        path,
        case_sensitive,
    }
}

/// A table of `(host, methods, path)` routes whose policy is their index.
fn table(routes: &[(&str, &[&str], &str)]) -> RouteTable<usize> {
    let mut b = RouteTableBuilder::new();
    for (i, (h, m, p)) in routes.iter().enumerate() {
        assert_eq!(b.push(spec(h, m, p), i).unwrap(), i);
    }
    b.build()
}

fn path_matches(pattern: &str, path: &str) -> bool {
    table(&[("*", &["*"], pattern)])
        .find("GET", "h", path)
        .is_some()
}

fn host_matches(pattern: &str, host: &str) -> bool {
    table(&[(pattern, &["*"], "/**")])
        .find("GET", host, "/")
        .is_some()
}

fn idx(t: &RouteTable<usize>, method: &str, host: &str, path: &str) -> Option<usize> {
    let fast = t.find(method, host, path).map(|m| m.index);
    let slow = t.find_linear(method, host, path).map(|m| m.index);
    assert_eq!(fast, slow, "index vs linear for {method} {host} {path}");
    fast
}

fn push_err(host: &str, methods: &[&str], path: &str) -> PatternError {
    RouteTableBuilder::<()>::new()
        .push(spec(host, methods, path), ())
        .unwrap_err()
}

// ---------------------------------------------------------------- paths

#[test]
fn literal_path_and_trailing_slash() {
    assert!(path_matches("/api/weather", "/api/weather"));
    assert!(path_matches("/api/weather", "/api/weather/"));
    assert!(!path_matches("/api/weather", "/api/weather/x"));
    assert!(!path_matches("/api/weather", "/api"));
    assert!(path_matches("/api/weather/", "/api/weather"));
    assert!(
        !path_matches("/api/weather", "/API/weather"),
        "literals are case-sensitive"
    );
}

#[test]
fn root_pattern() {
    assert!(path_matches("/", "/"));
    assert!(!path_matches("/", "/a"));
}

#[test]
fn single_star() {
    assert!(path_matches("/api/*", "/api/a"));
    assert!(path_matches("/api/*", "/api/a/"));
    assert!(!path_matches("/api/*", "/api"));
    assert!(!path_matches("/api/*", "/api/"));
    assert!(!path_matches("/api/*", "/api/a/b"));
}

#[test]
fn double_star() {
    for p in ["/api", "/api/", "/api/a", "/api/a/b/c"] {
        assert!(path_matches("/api/**", p), "{p}");
    }
    assert!(!path_matches("/api/**", "/apix"));
    assert!(!path_matches("/api/**", "/"));
    for p in ["/", "/a", "/a/b/c/"] {
        assert!(path_matches("/**", p), "{p}");
    }
    assert!(path_matches("/a/*/**", "/a/b"));
    assert!(!path_matches("/a/*/**", "/a"));
}

#[test]
fn params_capture() {
    let t = table(&[("*", &["*"], "/users/:id/posts")]);
    let m = t.find("GET", "h", "/users/42/posts").unwrap();
    assert_eq!(m.index, 0);
    assert_eq!(*m.policy, 0);
    assert_eq!(m.params.get("id"), Some("42"));
    assert_eq!(m.params.get("nope"), None);
    assert_eq!(m.params.len(), 1);
    assert!(t.find("GET", "h", "/users//posts").is_none());
    assert!(t.find("GET", "h", "/users/42").is_none());

    let t = table(&[("*", &["*"], "/:a/:b/*/:c/:d/:e/**")]);
    let m = t.find("GET", "h", "/1/2/x/3/4/5/rest/of").unwrap();
    let got: Vec<_> = m.params.iter().collect();
    assert_eq!(
        got,
        [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")]
    );
    assert_eq!(m.params.get("e"), Some("5"));
}

#[test]
fn params_with_distinct_names_share_a_trie_node() {
    let t = table(&[("*", &["POST"], "/u/:uid"), ("*", &["GET"], "/u/:name")]);
    let m = t.find("GET", "h", "/u/bob").unwrap();
    assert_eq!((m.index, m.params.get("name")), (1, Some("bob")));
    assert_eq!(m.params.get("uid"), None);
    let m = t.find("POST", "h", "/u/bob").unwrap();
    assert_eq!((m.index, m.params.get("uid")), (0, Some("bob")));
}

#[test]
fn non_slash_paths_never_match() {
    let t = table(&[("*", &["*"], "/**")]);
    assert!(t.find("OPTIONS", "h", "*").is_none());
    assert!(t.find("GET", "h", "http://h/p").is_none());
    assert!(t.find("GET", "h", "").is_none());
}

// ---------------------------------------------------------------- hosts

#[test]
fn host_exact_case_port_and_dot() {
    for h in [
        "api.example.com",
        "API.Example.COM",
        "api.example.com:8080",
        "api.example.com.",
        "api.example.com.:443",
    ] {
        assert!(host_matches("api.example.com", h), "{h}");
    }
    assert!(host_matches("API.example.com.", "api.example.com"));
    assert!(!host_matches("api.example.com", "example.com"));
    assert!(!host_matches("api.example.com", "x.api.example.com"));
    assert!(!host_matches("api.example.com", "api.example.co"));
}

#[test]
fn host_wildcard_edges() {
    let p = "*.example.com";
    for h in [
        "a.example.com",
        "a.b.example.com",
        "A.EXAMPLE.com:80",
        "a.example.com.",
    ] {
        assert!(host_matches(p, h), "{h}");
    }
    for h in [
        "example.com",
        ".example.com",
        "aexample.com",
        "example.com.evil",
        "com",
        "",
    ] {
        assert!(!host_matches(p, h), "{h}");
    }
}

#[test]
fn host_any_and_ipv6() {
    assert!(host_matches("*", "anything:1"));
    assert!(host_matches("", "anything"));
    assert!(host_matches("*", ""));
    assert!(host_matches("[::1]", "[::1]:8080"));
    assert!(!host_matches("[::1]", "[::2]"));
}

// ---------------------------------------------------------------- methods

#[test]
fn methods_any_known_and_extension() {
    let t = table(&[
        ("*", &["GET", "HEAD"], "/a"),
        ("*", &["PURGE"], "/a"),
        ("*", &["*"], "/b"),
        ("*", &[], "/c"),
    ]);
    assert_eq!(idx(&t, "GET", "h", "/a"), Some(0));
    assert_eq!(idx(&t, "HEAD", "h", "/a"), Some(0));
    assert_eq!(idx(&t, "PURGE", "h", "/a"), Some(1));
    assert_eq!(idx(&t, "POST", "h", "/a"), None);
    assert_eq!(
        idx(&t, "get", "h", "/a"),
        None,
        "methods are case-sensitive"
    );
    assert_eq!(idx(&t, "PURGEX", "h", "/a"), None);
    for m in ["GET", "DELETE", "PURGE", "MKCOL"] {
        assert_eq!(idx(&t, m, "h", "/b"), Some(2));
        assert_eq!(idx(&t, m, "h", "/c"), Some(3));
    }
}

// ---------------------------------------------------------------- order & shadowing

#[test]
fn first_match_wins_and_shadowing_is_reported() {
    // A general route before a specific one shadows it.
    let t = table(&[("*", &["*"], "/api/**"), ("*", &["GET"], "/api/users/:id")]);
    assert_eq!(idx(&t, "GET", "h", "/api/users/1"), Some(0));
    assert_eq!(t.unreachable(), [(1, 0)]);

    // A specific route before a general one is fine.
    let t = table(&[("*", &["GET"], "/api/users/:id"), ("*", &["*"], "/api/**")]);
    assert_eq!(idx(&t, "GET", "h", "/api/users/1"), Some(0));
    assert_eq!(idx(&t, "POST", "h", "/api/users/1"), Some(1));
    assert_eq!(idx(&t, "GET", "h", "/api/other"), Some(1));
    assert!(t.unreachable().is_empty());
}

#[test]
fn shadowing_rules() {
    let t = table(&[
        ("*.example.com", &["GET", "POST"], "/a/:x"), // 0
        ("a.example.com", &["GET"], "/a/b"),          // 1: covered by 0
        ("*.b.example.com", &["POST"], "/a/*"),       // 2: covered by 0
        ("example.com", &["GET"], "/a/b"),            // 3: host not covered
        ("*.example.com", &["PUT"], "/a/b"),          // 4: method not covered
        ("*.example.com", &["*"], "/a/b"),            // 5: `*` only covered by `*`
        ("*.example.com", &["GET"], "/a/b/**"),       // 6: `**` not covered by `:x`
        ("*", &["*"], "/x/**"),                       // 7
        ("*", &["GET", "PURGE"], "/x/**"),            // 8: covered by 7
        ("*", &["GET"], "/x"),                        // 9: covered by 7 (zero segments)
        ("*", &["PURGE"], "/y/:a/**"),                // 10
        ("*", &["PURGE"], "/y/**"),                   // 11: broader than 10
        ("*", &["PURGE"], "/y/z/w/**"),               // 12: covered by 10
        ("h.com", &["GET"], "/p"),                    // 13
        ("H.com.", &["GET"], "/p/"),                  // 14: same as 13
    ]);
    assert_eq!(
        t.unreachable(),
        [(1, 0), (2, 0), (8, 7), (9, 7), (12, 10), (14, 13)]
    );
}

#[test]
fn wildcard_host_does_not_shadow_star_host() {
    let t = table(&[("*.x.com", &["*"], "/**"), ("*", &["*"], "/**")]);
    assert!(t.unreachable().is_empty());
    assert_eq!(idx(&t, "GET", "a.x.com", "/"), Some(0));
    assert_eq!(idx(&t, "GET", "x.com", "/"), Some(1));
}

#[test]
fn host_specific_route_order_across_partitions() {
    let t = table(&[
        ("*", &["GET"], "/a/:p"),     // 0
        ("api.x.com", &["*"], "/**"), // 1
        ("*.x.com", &["*"], "/a/**"), // 2
        ("*", &["*"], "/**"),         // 3
    ]);
    assert_eq!(idx(&t, "GET", "api.x.com", "/a/1"), Some(0));
    assert_eq!(idx(&t, "POST", "api.x.com", "/a/1"), Some(1));
    assert_eq!(idx(&t, "POST", "w.x.com", "/a/1"), Some(2));
    assert_eq!(idx(&t, "POST", "w.x.com", "/b"), Some(3));
    assert_eq!(idx(&t, "POST", "x.com", "/a"), Some(3));
}

// ---------------------------------------------------------------- normalisation

#[test]
fn normalize_examples() {
    let cases = [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("/a//b", "/a/b"),
        ("//a///b//", "/a/b/"),
        ("/a/./b", "/a/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/../c", "/a/c"),
        ("/../../a", "/a"),
        ("/..", "/"),
        ("/.", "/"),
        ("/a/.b/..c", "/a/.b/..c"),
        ("/api/%77eather", "/api/weather"),
        ("/%7e%2D%5F%2e%41", "/~-_.A"),
        ("/a/%2e%2E/b", "/b"),
        ("/a%2Fb", "/a%2Fb"),
        ("/a%2fb/%3F", "/a%2fb/%3F"),
        ("/bad%zz%4/%", "/bad%zz%4/%"),
        ("/caf%C3%A9/é", "/caf%C3%A9/é"),
        ("/api/weather?x=1", "/api/weather"),
        ("/a?b/../c", "/a"),
        ("/a#frag", "/a"),
        ("/a/../b?q=..", "/b"),
        ("*", "*"),
        ("http://h/p?x", "http://h/p?x"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_path(input), want, "{input}");
    }
}

#[test]
fn normalize_borrows_when_clean() {
    assert!(matches!(normalize_path("/a/b/c"), Cow::Borrowed("/a/b/c")));
    assert!(matches!(normalize_path("/a/b?x=1"), Cow::Borrowed("/a/b")));
    assert!(matches!(normalize_path("/a%2Fb"), Cow::Borrowed(_)));
    assert!(matches!(normalize_path("/a//b"), Cow::Owned(_)));
}

#[test]
fn normalized_requests_match() {
    let t = table(&[("*", &["*"], "/api/weather"), ("*", &["*"], "/files/:name")]);
    let find = |raw: &str| idx(&t, "GET", "h", &normalize_path(raw));
    assert_eq!(find("/api/%77eather"), Some(0));
    assert_eq!(find("//api//weather/"), Some(0));
    assert_eq!(find("/x/../api/./weather?q=1"), Some(0));
    assert_eq!(find("/api/weather/x/.."), Some(0));
    assert_eq!(find("/api%2Fweather"), None);
    let p = normalize_path("/files/a%2Fb");
    let m = t.find("GET", "h", &p).unwrap();
    assert_eq!((m.index, m.params.get("name")), (1, Some("a%2Fb")));
    // Pattern literals are normalized like requests.
    let t = table(&[("*", &["*"], "/api/%77eather")]);
    assert_eq!(idx(&t, "GET", "h", "/api/weather"), Some(0));
}

// ---------------------------------------------------------------- errors

#[test]
fn pattern_errors() {
    use PatternError as E;
    assert_eq!(push_err("*", &[], "/a/**/b"), E::DoubleStarNotLast);
    assert_eq!(
        push_err("*", &[], "api/x"),
        E::PathMissingSlash("api/x".into())
    );
    assert_eq!(push_err("*", &[], ""), E::PathMissingSlash(String::new()));
    assert_eq!(push_err("*", &[], "/a/:"), E::EmptyParamName);
    assert_eq!(
        push_err("*", &[], "/a/:b-c"),
        E::InvalidParamName("b-c".into())
    );
    assert_eq!(
        push_err("*", &[], "/:id/:id"),
        E::DuplicateParamName("id".into())
    );
    assert_eq!(push_err("*", &[], "/a//b"), E::EmptySegment("/a//b".into()));
    assert_eq!(
        push_err("*", &["G ET"], "/"),
        E::InvalidMethod("G ET".into())
    );
    assert_eq!(push_err("*", &[""], "/"), E::InvalidMethod(String::new()));
    for bad in ["/a*", "/a/b?c", "/./a", "/a/..", "/a/%2e"] {
        assert!(
            matches!(push_err("*", &[], bad), E::InvalidSegment { .. }),
            "{bad}"
        );
    }
    for bad in [
        "a.*.com", "*.", "*", "a..b", ".a", "a.com:80", "a b", "a/b", "[::1", "*x.com",
    ] {
        if bad == "*" {
            continue;
        }
        assert!(
            matches!(push_err(bad, &[], "/"), E::InvalidHost { .. }),
            "{bad}"
        );
    }
}

#[test]
fn error_messages_are_sentences() {
    assert_eq!(
        push_err("*", &[], "/a/**/b").to_string(),
        "`**` is only allowed as the last path segment"
    );
    assert_eq!(
        push_err("*", &[], "api").to_string(),
        "path pattern must start with `/`, got `api`"
    );
    assert_eq!(
        push_err("*", &[], "/:").to_string(),
        "empty `:param` name; expected e.g. `:id`"
    );
    assert!(
        push_err("*", &["G ET"], "/")
            .to_string()
            .starts_with("invalid HTTP method `G ET`")
    );
    assert!(
        push_err("a.*.com", &[], "/")
            .to_string()
            .contains("`*.example.com`")
    );
    let boxed: Box<dyn std::error::Error> = Box::new(PatternError::DoubleStarNotLast);
    assert!(boxed.source().is_none());
}

#[test]
fn len_and_policy() {
    let t: RouteTable<&str> = RouteTableBuilder::new().build();
    assert!(t.is_empty());
    assert!(t.find("GET", "h", "/").is_none());
    assert!(t.unreachable().is_empty());
    let mut b = RouteTableBuilder::default();
    b.push(spec("*", &["GET"], "/a"), "svc-a").unwrap();
    b.push(spec("*", &["GET"], "/b"), "svc-b").unwrap();
    let t = b.build();
    assert_eq!((t.len(), t.is_empty()), (2, false));
    assert_eq!(t.policy(1), Some(&"svc-b"));
    assert_eq!(t.find("GET", "h", "/b").map(|m| *m.policy), Some("svc-b"));
}

// ---------------------------------------------------------------- equivalence

/// SplitMix64: tiny deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// More than `SMALL_LITERALS`, so trie nodes switch to hash maps.
const LITERALS: [&str; 16] = [
    "a", "b", "c", "dd", "a", "b", "c", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "A", "Dd",
];

fn random_pattern(rng: &mut Rng, n: usize) -> String {
    let len = if rng.below(20) == 0 {
        0
    } else {
        1 + rng.below(4)
    };
    let mut p = String::new();
    for i in 0..len {
        p.push('/');
        match rng.below(10) {
            0..=5 => p.push_str(rng.pick(&LITERALS)),
            6 | 7 => p.push_str(&format!(":p{i}")),
            _ => p.push('*'),
        }
    }
    if rng.below(4) == 0 {
        p.push_str("/**");
    }
    if p.is_empty() || rng.below(8) == 0 {
        p.push('/');
    }
    if n.is_multiple_of(97) {
        // Occasionally a very specific route, so deep nodes get low ids too.
        p = format!("/a/b/c/dd{p}");
        p = p.replace("//", "/");
    }
    p
}

fn random_literal(rng: &mut Rng) -> &'static str {
    if rng.below(8) == 0 {
        "e"
    } else {
        rng.pick(&LITERALS)
    }
}

/// A request path matched by `pattern`, with random values for `:p`, `*` and `**`.
fn instantiate(rng: &mut Rng, pattern: &str) -> String {
    let mut path = String::new();
    for seg in pattern.split('/').filter(|s| !s.is_empty()) {
        let n = match seg {
            "**" => rng.below(3),
            _ => 1,
        };
        for _ in 0..n {
            path.push('/');
            path.push_str(match seg {
                "*" | "**" => random_literal(rng),
                _ if seg.starts_with(':') => random_literal(rng),
                _ => seg,
            });
        }
    }
    path
}

#[test]
fn index_matches_linear_scan() {
    const HOSTS: [&str; 12] = [
        "*",
        "*",
        "*",
        "a.com",
        "b.a.com",
        "*.a.com",
        "*.b.a.com",
        "*.com",
        "[::1]",
        "service-long-name.example.org",
        "*.example.org",
        "*.long-name.example.org",
    ];
    const METHODS: [&str; 5] = ["GET", "POST", "PURGE", "DELETE", "*"];
    const REQ_HOSTS: [&str; 15] = [
        "a.com",
        "A.COM:8080",
        "b.a.com",
        "x.b.a.com.",
        "x.y.B.a.com",
        "c.com",
        "com",
        "a.org",
        "[::1]:1",
        "",
        "B.A.COM.",
        "SERVICE-long-name.Example.org:9",
        "x.service-long-name.example.org",
        "long-name.example.org",
        "example.org",
    ];
    const REQ_METHODS: [&str; 5] = ["GET", "POST", "PURGE", "DELETE", "MKCOL"];
    let mut rng = Rng(0x5eed);
    let mut misses = 0;
    for round in 0..4 {
        let n_routes = [50, 300, 1000, 3000][round];
        let mut b = RouteTableBuilder::new();
        let mut patterns = Vec::new();
        for i in 0..n_routes {
            let host = rng.pick(&HOSTS);
            let methods: Vec<&str> = (0..1 + rng.below(2)).map(|_| rng.pick(&METHODS)).collect();
            let path = random_pattern(&mut rng, i);
            let cs = rng.below(2) == 0;
            b.push(spec_cs(host, &methods, &path, cs), i).unwrap();
            patterns.push(path);
        }
        let t = b.build();
        let (mut hits, mut winners) = (0, std::collections::BTreeSet::new());
        for _ in 0..5000 {
            let mut path = if rng.below(2) == 0 {
                // A path some route's pattern matches (later routes often lose to earlier ones).
                let pattern = &patterns[rng.below(patterns.len())];
                instantiate(&mut rng, pattern)
            } else {
                let mut path = String::new();
                for _ in 0..rng.below(7) {
                    path.push('/');
                    path.push_str(random_literal(&mut rng));
                }
                path
            };
            if path.is_empty() || rng.below(5) == 0 {
                path.push('/');
            }
            let method = rng.pick(&REQ_METHODS);
            let host = rng.pick(&REQ_HOSTS);
            let fast = t.find(method, host, &path);
            let slow = t.find_linear(method, host, &path);
            let fast_v = fast
                .as_ref()
                .map(|m| (m.index, m.params.iter().collect::<Vec<_>>()));
            let slow_v = slow
                .as_ref()
                .map(|m| (m.index, m.params.iter().collect::<Vec<_>>()));
            assert_eq!(fast_v, slow_v, "{method} {host} {path}");
            hits += usize::from(fast.is_some());
            winners.extend(fast.map(|m| m.index));
        }
        // The generator should exercise hits, misses and many distinct winners.
        assert!(hits > 300, "round {round}: {hits} hits");
        misses += 5000 - hits;
        assert!(
            winners.len() > 15,
            "round {round}: {} winners",
            winners.len()
        );
    }
    assert!(misses > 100, "{misses} misses");
}

#[test]
fn unreachable_is_sound() {
    // Every reported shadowed route really never wins against the linear scan.
    let mut rng = Rng(42);
    const HOSTS: [&str; 5] = ["*", "a.com", "*.a.com", "b.a.com", "*.b.a.com"];
    const METHODS: [&str; 4] = ["GET", "POST", "PURGE", "*"];
    let mut b = RouteTableBuilder::new();
    for i in 0..300 {
        let methods: Vec<&str> = (0..1 + rng.below(2)).map(|_| rng.pick(&METHODS)).collect();
        let path = random_pattern(&mut rng, i + 1);
        b.push(spec(rng.pick(&HOSTS), &methods, &path), i).unwrap();
    }
    let t = b.build();
    let shadowed: Vec<usize> = t
        .unreachable()
        .iter()
        .map(|&(b, a)| {
            assert!(a < b);
            b
        })
        .collect();
    assert!(!shadowed.is_empty());
    for _ in 0..20_000 {
        let mut path = String::new();
        for _ in 0..rng.below(6) {
            path.push('/');
            path.push_str(rng.pick(&["a", "b", "c", "dd", "e"]));
        }
        path.push('/');
        let host = rng.pick(&["a.com", "x.a.com", "b.a.com", "y.b.a.com", "z.org"]);
        let method = rng.pick(&["GET", "POST", "PURGE", "PATCH"]);
        if let Some(m) = t.find(method, host, &path) {
            assert!(
                !shadowed.contains(&m.index),
                "{} won for {method} {host} {path}",
                m.index
            );
        }
    }
}

#[test]
fn unreachable_matches_quadratic_reference() {
    // Hosts with nested suffixes, case and trailing-dot variants of the same name, and
    // an IPv6 literal, so every host partition can cover another.
    const HOSTS: [&str; 14] = [
        "*",
        "*",
        "*",
        "a.com",
        "A.com.",
        "b.a.com",
        "x.b.a.com",
        "*.a.com",
        "*.b.a.com",
        "*.com",
        "*.A.COM",
        "[::1]",
        "c.org",
        "*.c.org",
    ];
    const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PURGE", "MKCOL", "*"];
    let mut rng = Rng(0xc0ffee);
    let (mut pairs, mut later_coverer) = (0, 0);
    for (round, n_routes) in [1, 2, 5, 20, 100, 400, 1000, 2500].into_iter().enumerate() {
        for _ in 0..if n_routes < 100 { 50 } else { 2 } {
            let mut b = RouteTableBuilder::new();
            for i in 0..n_routes {
                let methods: Vec<&str> = (0..rng.below(3)).map(|_| rng.pick(&METHODS)).collect();
                let path = random_pattern(&mut rng, i + round);
                let cs = rng.below(2) == 0;
                b.push(spec_cs(rng.pick(&HOSTS), &methods, &path, cs), i)
                    .unwrap();
            }
            let t = b.build();
            let fast = t.unreachable();
            let slow = t.unreachable_quadratic();
            assert_eq!(fast, slow, "round {round}, {n_routes} routes");
            pairs += fast.len();
            // Pairs whose route is also covered by a later (but still earlier than it)
            // route: the reported one must be the first.
            later_coverer += fast
                .iter()
                .filter(|&&(b, a)| (a + 1..b).any(|x| t.rules[x].covers(&t.rules[b])))
                .count();
        }
    }
    assert!(pairs > 1000, "{pairs} shadowed pairs");
    assert!(
        later_coverer > 100,
        "{later_coverer} pairs with several coverers"
    );
}

#[test]
fn unreachable_on_fixed_tables_matches_reference() {
    let t = table(&[
        ("*", &["*"], "/**"),
        ("*", &["GET"], "/a/**"),
        ("*.a.com", &["*"], "/x/:id"),
        ("b.a.com", &["GET"], "/x/y"),
        ("B.A.COM", &["GET"], "/x/:q"),
        ("*.b.a.com", &["GET"], "/x/*/**"),
        ("[::1]", &[], "/"),
    ]);
    assert_eq!(t.unreachable(), t.unreachable_quadratic());
    assert_eq!(t.unreachable().len(), 6);
    let t = table(&[
        ("b.a.com", &["GET"], "/x/:q"),
        ("*.a.com", &["GET"], "/x/y/**"),
        ("*.b.a.com", &["GET"], "/x/y/z"),
        ("*.a.com", &["GET", "POST"], "/x/*"),
        ("b.a.com", &["GET"], "/x/y"),
        ("b.a.com", &["GET"], "/x/y/**"),
    ]);
    assert_eq!(t.unreachable(), [(2, 1), (4, 0), (5, 1)]);
    assert_eq!(t.unreachable(), t.unreachable_quadratic());
}

// ---------------------------------------------------------------- case folding and method gaps

#[test]
fn literals_fold_case_unless_case_sensitive() {
    let mut b = RouteTableBuilder::new();
    b.push(spec_cs("*", &["*"], "/Paid/**", false), 0).unwrap();
    b.push(spec_cs("*", &["*"], "/Exact/x", true), 1).unwrap();
    let t = b.build();
    for p in ["/paid/x", "/PAID", "/pAiD/Y/z"] {
        assert_eq!(idx(&t, "GET", "h", p), Some(0), "{p}");
    }
    assert_eq!(idx(&t, "GET", "h", "/Exact/x"), Some(1));
    assert_eq!(idx(&t, "GET", "h", "/exact/x"), None);
    // captures keep the client's spelling
    let mut b = RouteTableBuilder::new();
    b.push(spec_cs("*", &["*"], "/Users/:id", false), 0)
        .unwrap();
    let t = b.build();
    assert_eq!(
        t.find("GET", "h", "/USERS/AbC").unwrap().params.get("id"),
        Some("AbC")
    );
}

#[test]
fn folded_and_exact_literals_shadow_as_sets() {
    let mut b = RouteTableBuilder::new();
    b.push(spec_cs("*", &["*"], "/a/**", false), 0).unwrap();
    b.push(spec_cs("*", &["*"], "/A/x", true), 1).unwrap();
    b.push(spec_cs("*", &["*"], "/B/**", true), 2).unwrap();
    b.push(spec_cs("*", &["*"], "/b/y", false), 3).unwrap();
    b.push(spec_cs("*", &["*"], "/1/**", true), 4).unwrap();
    b.push(spec_cs("*", &["*"], "/1/z", false), 5).unwrap();
    let t = b.build();
    assert_eq!(t.unreachable(), [(1, 0), (5, 4)]);
    assert_eq!(t.unreachable(), t.unreachable_quadratic());
}

#[test]
fn patterns_refuse_what_requests_fold_away() {
    for p in ["/a;b", "/a./x", "/a%20"] {
        assert!(
            matches!(push_err("*", &[], p), PatternError::InvalidSegment { .. }),
            "{p}"
        );
    }
}

#[test]
fn method_gaps_find_later_routes_that_catch_other_methods() {
    let t = table(&[
        ("*", &["GET"], "/paid/**"),
        ("*", &["POST"], "/paid/x"),
        ("*", &["*"], "/**"),
        ("*", &["GET"], "/**"),
        ("*", &["*"], "/other/**"),
    ]);
    assert_eq!(t.method_gaps(0), [2]);
    assert_eq!(t.method_gaps(1), [2, 3]);
    assert!(
        t.method_gaps(2).is_empty(),
        "any-method routes have no gaps"
    );
    assert!(!t.has_host_scoped());
    assert!(table(&[("a.com", &[], "/")]).has_host_scoped());
}

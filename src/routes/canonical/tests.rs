//! Examples of the pricing view, and property tests: it never panics, it is idempotent, and
//! folding never turns a path into one under a different first segment than a lenient origin's.

use super::*;
use proptest::prelude::*;

fn view(p: &str) -> Result<String, AmbiguousPath> {
    pricing_path(p).map(Cow::into_owned)
}

#[test]
fn folds_params_dots_and_escapes() {
    for (raw, want) in [
        ("/paid/x", "/paid/x"),
        ("/paid;jsessionid=1/x", "/paid/x"),
        ("/paid/x;v=1", "/paid/x"),
        ("/free/..;/paid/x", "/paid/x"),
        ("/;x/paid/x", "/paid/x"),
        ("/paid./x", "/paid/x"),
        ("/paid%2e/x", "/paid/x"),
        ("/paid%20/x", "/paid/x"),
        ("/paid.%20/x", "/paid/x"),
        ("/%70aid/x", "/paid/x"),
        ("/a//b/./c/../d", "/a/b/d"),
        ("/paid/", "/paid/"),
        ("/", "/"),
        ("/a/%3a", "/a/%3A"),
        ("/caf\u{e9}", "/caf%C3%A9"),
        ("/../../x", "/x"),
    ] {
        assert_eq!(view(raw).as_deref(), Ok(want), "{raw}");
    }
}

#[test]
fn borrows_clean_paths() {
    for p in ["/", "/paid/x", "/a/b/", "/api/v1/items"] {
        assert!(matches!(pricing_path(p), Ok(Cow::Borrowed(_))), "{p}");
    }
}

#[test]
fn refuses_what_cannot_be_priced_safely() {
    for (raw, why) in [
        ("/free/.../paid", AmbiguousPath::DotsOnly),
        ("/free/%2e%2e%2e/x", AmbiguousPath::DotsOnly),
        ("/free/..%20/paid", AmbiguousPath::DotsOnly),
        ("/free%2f..%2fpaid", AmbiguousPath::EncodedSeparator),
        ("/a%5cb", AmbiguousPath::EncodedSeparator),
        ("/a\\b", AmbiguousPath::EncodedSeparator),
        ("/free/x#/../paid", AmbiguousPath::Fragment),
    ] {
        assert_eq!(view(raw), Err(why), "{raw}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn never_panics_and_is_idempotent(segs in prop::collection::vec(
        prop::sample::select(vec![
            "a", "B", ".", "..", "...", "", ";x", "a;b=c", "%2e", "%2E%2e", "%20", "a.", "a%20",
            "%70", "%3a", "%3A", "%", "%zz", "%C3%A9", "\u{e9}", "..;", "x%2fy", "#", "\\",
        ]), 0..8)) {
        let path = format!("/{}", segs.join("/"));
        if let Ok(once) = pricing_path(&path) {
            let twice = pricing_path(&once).expect("a folded path is never refused");
            prop_assert_eq!(once.as_ref(), twice.as_ref());
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.contains(';'));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
        let path = format!("/{s}");
        if let Ok(once) = pricing_path(&path) {
            prop_assert_eq!(pricing_path(&once).map(Cow::into_owned), Ok(once.into_owned()));
        }
        let n = crate::routes::normalize_path(&path).into_owned();
        prop_assert_eq!(crate::routes::normalize_path(&n).into_owned(), n);
    }
}

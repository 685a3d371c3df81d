//! The built-in table of well-known crawlers (toll-booth.md §5, seeded from the operators'
//! published documentation): search engines pass free, AI crawlers are charged, and the crawlers
//! whose operators publish reverse-DNS names are verified by them, so a spoofed claim is caught.
//!
//! An operator's `[[toll_booth.crawler]]` with the same `id` replaces an entry; published IP
//! lists are URLs the operator must point `verify.ip_lists` at (files), since they change.

/// One built-in crawler: id, user-agent tokens, default action, reverse-DNS suffixes.
pub struct Builtin {
    pub id: &'static str,
    pub tokens: &'static [&'static str],
    /// `None`: `[toll_booth].default_bot_action`.
    pub action: Option<&'static str>,
    pub rdns_suffixes: &'static [&'static str],
}

/// Order matters where tokens overlap: the first match wins (`Claude-SearchBot` before
/// `ClaudeBot` does not matter, they are distinct substrings; `Googlebot` after `Google-*`).
pub const CRAWLERS: &[Builtin] = &[
    Builtin {
        id: "googlebot",
        tokens: &[
            "Googlebot",
            "Storebot-Google",
            "GoogleOther",
            "Google-InspectionTool",
        ],
        action: Some("allow"),
        rdns_suffixes: &[".googlebot.com", ".google.com", ".googleusercontent.com"],
    },
    Builtin {
        id: "bingbot",
        tokens: &["bingbot"],
        action: Some("allow"),
        rdns_suffixes: &[".search.msn.com"],
    },
    Builtin {
        id: "applebot",
        tokens: &["Applebot"],
        action: Some("allow"),
        rdns_suffixes: &[".applebot.apple.com"],
    },
    Builtin {
        id: "duckduckbot",
        tokens: &["DuckDuckBot", "DuckAssistBot"],
        action: Some("allow"),
        rdns_suffixes: &[],
    },
    Builtin {
        id: "gptbot",
        tokens: &["GPTBot"],
        action: None,
        rdns_suffixes: &[],
    },
    Builtin {
        id: "oai-searchbot",
        tokens: &["OAI-SearchBot"],
        action: Some("allow"),
        rdns_suffixes: &[],
    },
    Builtin {
        id: "chatgpt-user",
        tokens: &["ChatGPT-User"],
        action: Some("allow"),
        rdns_suffixes: &[],
    },
    Builtin {
        id: "claudebot",
        tokens: &["ClaudeBot", "anthropic-ai", "Claude-Web"],
        action: None,
        rdns_suffixes: &[],
    },
    Builtin {
        id: "claude-searchbot",
        tokens: &["Claude-SearchBot"],
        action: Some("allow"),
        rdns_suffixes: &[],
    },
    Builtin {
        id: "claude-user",
        tokens: &["Claude-User"],
        action: Some("allow"),
        rdns_suffixes: &[],
    },
    Builtin {
        id: "perplexitybot",
        tokens: &["PerplexityBot"],
        action: None,
        rdns_suffixes: &[],
    },
    Builtin {
        id: "perplexity-user",
        tokens: &["Perplexity-User"],
        action: Some("allow"),
        rdns_suffixes: &[],
    },
    Builtin {
        id: "ccbot",
        tokens: &["CCBot"],
        action: None,
        rdns_suffixes: &[".crawl.commoncrawl.org"],
    },
    Builtin {
        id: "amazonbot",
        tokens: &["Amazonbot", "Amzn-SearchBot"],
        action: None,
        rdns_suffixes: &[".crawl.amazonbot.amazon"],
    },
    Builtin {
        id: "meta-externalagent",
        tokens: &["meta-externalagent", "FacebookBot"],
        action: None,
        rdns_suffixes: &[],
    },
    Builtin {
        id: "bytespider",
        tokens: &["Bytespider"],
        action: Some("block"),
        rdns_suffixes: &[],
    },
];

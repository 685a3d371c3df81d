//! Who is asking: the toll booth's classifier, run before pricing.
//!
//! Trust order (toll-booth.md §5): a Web Bot Auth signature, then a user-agent claim confirmed by
//! published IP ranges, then by forward-confirmed reverse DNS, then the bare claim. Outcomes:
//! a person, a verified crawler (which one, by which method), an unverified claim, a spoofed
//! claim (names a crawler that can be checked, and fails), or an unknown bot.
//!
//! A request that carries a signature which does not verify is refused here ([`Refusal`]),
//! whatever its user agent says: nothing unverifiable is charged to an account or let through
//! as a crawler it is not.

use std::net::IpAddr;
use std::sync::Arc;

use super::directory::{Directories, DirectoryError};
use super::policy::{Crawler, TollBooth};
use super::rdns::Resolver;
use super::signature::{self, Message, ParseOptions, SigError, Signature};

/// What the classifier concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Human,
    Verified,
    Unverified,
    Spoofed,
    UnknownBot,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Verified => "verified",
            Self::Unverified => "unverified",
            Self::Spoofed => "spoofed",
            Self::UnknownBot => "unknown_bot",
        }
    }
}

/// How a crawler was recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    WebBotAuth,
    IpList,
    Rdns,
    UserAgent,
    None,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Self::WebBotAuth => "web_bot_auth",
            Self::IpList => "ip_list",
            Self::Rdns => "rdns",
            Self::UserAgent => "user_agent",
            Self::None => "none",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Identity {
    pub outcome: Outcome,
    pub method: Method,
    pub crawler: Option<Arc<Crawler>>,
    /// The verified signature, with its agent.
    pub signature: Option<Signature>,
    /// The forward-confirmed host name.
    pub host_name: Option<Arc<str>>,
}

/// Why a signed request is refused (`crawler-error: InvalidSignature`, 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Signature(SigError),
    /// The signature agent's directory has no such key, or could not be read.
    Key(DirectoryError),
    TestKey,
    /// This nonce was already used by another request.
    NonceReused,
}

impl Refusal {
    /// The reason in logs, metrics and the JSON body.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Signature(SigError::Expired) => "signature_expired",
            Self::Signature(SigError::NotYetValid) => "signature_not_yet_valid",
            Self::Signature(SigError::WindowTooLong) => "signature_window_too_long",
            Self::Signature(SigError::BadSignature) => "signature_invalid",
            Self::Signature(SigError::Malformed(_)) => "signature_malformed",
            Self::Key(DirectoryError::UnknownKey) => "signature_unknown_key",
            Self::Key(_) => "signature_directory_unavailable",
            Self::TestKey => "signature_test_key",
            Self::NonceReused => "signature_nonce_reused",
        }
    }
}

/// The parts of the request the classifier reads.
pub struct Asking<'a> {
    pub message: Message<'a>,
    pub user_agent: &'a str,
    pub client_ip: Option<IpAddr>,
    /// A person in a browser (`Accept: text/html` and `Mozilla`).
    pub browser: bool,
    pub now: u64,
}

/// The classifier's long-lived parts: caches that outlive config reloads.
pub struct Classifier {
    pub directories: Directories,
    pub resolver: Option<Resolver>,
    /// IP lists fetched from URLs.
    pub ip_lists: super::ip_lists::RemoteLists,
}

impl Classifier {
    /// Classifies one request under `booth`.
    pub async fn classify(
        &self,
        booth: &TollBooth,
        asking: &Asking<'_>,
    ) -> Result<Identity, Refusal> {
        let rules = &booth.signatures;
        let options = ParseOptions {
            accept_legacy: rules.accept_legacy,
            allow_http: rules.allow_http,
        };
        let parsed = signature::parse(&asking.message, &options).map_err(Refusal::Signature)?;
        // An agent nobody named is not looked up (unless allowed): no request picks the URLs
        // the gateway fetches from.
        let parsed =
            parsed.filter(|s| rules.verify_unknown_agents || booth.knows_agent(&s.agent_url));
        if let Some(sig) = parsed {
            sig.check_time(asking.now, rules.max_window_secs, rules.skew_secs)
                .map_err(Refusal::Signature)?;
            if rules.reject_test_keys && signature::is_test_key(&sig.keyid) {
                return Err(Refusal::TestKey);
            }
            let key = self
                .directories
                .key(&sig.key_url, &sig.keyid, asking.now)
                .await
                .map_err(Refusal::Key)?;
            sig.verify(&key).map_err(Refusal::Signature)?;
            return Ok(Identity {
                outcome: Outcome::Verified,
                method: Method::WebBotAuth,
                crawler: booth.by_signature_agent(&sig.agent_url).cloned(),
                signature: Some(sig),
                host_name: None,
            });
        }
        let Some(crawler) = booth.by_user_agent(asking.user_agent) else {
            let outcome = if looks_automated(asking.user_agent, asking.browser) {
                Outcome::UnknownBot
            } else {
                Outcome::Human
            };
            return Ok(Identity {
                outcome,
                method: Method::None,
                crawler: None,
                signature: None,
                host_name: None,
            });
        };
        let (outcome, method, host_name) = self.confirm(crawler, asking.client_ip).await;
        Ok(Identity {
            outcome,
            method,
            crawler: Some(crawler.clone()),
            signature: None,
            host_name,
        })
    }

    /// Checks a user-agent claim against the crawler's published ranges, then reverse DNS.
    async fn confirm(
        &self,
        crawler: &Crawler,
        ip: Option<IpAddr>,
    ) -> (Outcome, Method, Option<Arc<str>>) {
        if !crawler.verifiable() {
            return (Outcome::Unverified, Method::UserAgent, None);
        }
        let Some(ip) = ip else {
            return (Outcome::Spoofed, Method::UserAgent, None);
        };
        if crawler.ip_ranges.as_ref().is_some_and(|r| r.contains(ip))
            || self.ip_lists.contains(&crawler.ip_urls, ip)
        {
            return (Outcome::Verified, Method::IpList, None);
        }
        if !crawler.rdns_suffixes.is_empty()
            && let Some(resolver) = &self.resolver
            && let Some(name) = resolver.confirm(ip, &crawler.rdns_suffixes).await
        {
            return (Outcome::Verified, Method::Rdns, Some(name));
        }
        (Outcome::Spoofed, Method::UserAgent, None)
    }
}

/// A user agent that is a program rather than a browser: empty, or naming a bot, crawler,
/// spider or a common HTTP library, and not a browser asking for a page.
fn looks_automated(agent: &str, browser: bool) -> bool {
    if agent.trim().is_empty() {
        return true;
    }
    let lower = agent.to_ascii_lowercase();
    const MARKS: [&str; 16] = [
        "bot",
        "crawl",
        "spider",
        "scrape",
        "fetch",
        "curl",
        "wget",
        "python",
        "go-http",
        "java/",
        "okhttp",
        "node",
        "undici",
        "axios",
        "httpclient",
        "headless",
    ];
    let marked = MARKS.iter().any(|m| lower.contains(m));
    marked || !(browser || lower.starts_with("mozilla/"))
}

#[cfg(test)]
mod tests {
    use super::looks_automated;

    #[test]
    fn tells_programs_from_browsers() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert!(!looks_automated(firefox, true));
        assert!(!looks_automated(firefox, false));
        for agent in [
            "",
            "curl/8.5.0",
            "python-requests/2.32",
            "node",
            "Mozilla/5.0 (compatible; SomeBot/1.0)",
            "HeadlessChrome/120",
            "x402-client/1.0",
        ] {
            assert!(looks_automated(agent, false), "{agent}");
        }
    }
}

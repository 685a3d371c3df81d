//! "Who is asking": the step before "what does it cost" (DESIGN.md, request path step 3).
//!
//! Today it tells people in browsers (who get the HTML paywall, spec §8.4) from programs (agents,
//! crawlers, scripts: JSON 402). Crawler identification (Web Bot Auth, user-agent and reverse-DNS
//! rules) and per-requester prices plug in here, without touching pricing or payment code.

use super::request::RequestFacts;

/// The kind of requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// A person in a web browser: `Accept` has `text/html` and the user agent says `Mozilla`,
    /// exactly the official middlewares' `isWebBrowser` test.
    Browser,
    /// Anything else: an agent, crawler or script.
    Agent,
}

/// Classifies a request.
pub fn classify(facts: &RequestFacts) -> Requester {
    if facts.browser {
        Requester::Browser
    } else {
        Requester::Agent
    }
}

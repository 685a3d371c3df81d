//! The bot toll booth: who is crawling (Web Bot Auth signatures, user agents, published IP
//! ranges, forward-confirmed reverse DNS), what each crawler is allowed or charged, Cloudflare's
//! pay-per-crawl dialect, and what the policy publishes (README "Toll booth").
//!
//! | module | role |
//! |---|---|
//! | `usd` | `USD 0.01` prices as whole micro-dollars |
//! | `signature` | RFC 9421 / Web Bot Auth request signatures: parse, time checks, verify, sign |
//! | `directory` | signature-agent key directories, fetched with limits and cached |
//! | `rdns` | forward-confirmed reverse DNS, cached |
//! | `ip_ranges` | published crawler IP ranges |
//! | `ip_lists` | IP range lists fetched from URLs and refreshed |
//! | `builtin` | the built-in table of well-known crawlers |
//! | `identity` | the classifier: human, verified, unverified, spoofed, unknown bot |
//! | `policy` | the compiled `[toll_booth]` and its decision: allow, charge, block, or the route's price |
//! | `cloudflare` | `crawler-*` headers and error codes |
//! | `publish` | robots.txt and `/.well-known/x402` |
//! | `tab_offer` | the credit-backed `batch-settlement` offer of a tab, and its `PAYMENT-RESPONSE` |

pub mod builtin;
pub mod cloudflare;
pub mod directory;
pub mod identity;
pub mod ip_lists;
pub mod ip_ranges;
pub mod policy;
pub mod publish;
pub mod rdns;
pub mod signature;
pub mod tab_offer;
pub mod usd;

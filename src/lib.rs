//! x402-gateway: a Pingora reverse proxy that puts unmodified origins behind routes paid with x402.
//!
//! | module | role |
//! |---|---|
//! | `clock` | the one source of wall-clock time |
//! | `rfc3339` | RFC 3339 timestamps (the ledger's export, SIWX messages) |
//! | `price` | networks, assets, exact decimal prices → payment options |
//! | `routes` | first-match route table (host, method, path patterns) |
//! | `x402` | wire protocol: v1/v2 types, header codecs, 402 challenge, reasons |
//! | `evm` | EVM `exact` (EIP-3009) authorization and its local checks |
//! | `facilitator` | `/verify`, `/settle`, `/supported` client behind `Verifier`/`Settler` |
//! | `access` | passes, sign-in-with-x and payment identifiers: tokens, messages, nonces |
//! | `toll` | the bot toll booth: crawler identity, per-crawler policy and prices, pay-per-crawl |
//! | `store` | single-use payment guard (`ReplayGuard`), in memory |
//! | `tally` | per-key sums under a cap with holds that give back on drop (reservations, owed value) |
//! | `ledger` | the durable payment ledger (SQLite, group commit) and its export |
//! | `settlement` | after the request path: owed values, the background settlement worker, start-up recovery |
//! | `billing` | the toll booth's tabs after the request path: cutoffs into batches, invoices, webhooks |
//! | `config` | `gateway.toml` → `Snapshot`, validation with line:column, hot reload |
//! | `snapshot` | the immutable live configuration |
//! | `proxy` | the request path as Pingora phases |
//! | `admin` | health, status and Prometheus metrics listener |
//! | `maintenance` | background work: reload watch, sweeps, health checks |
//! | `cli` | `run`, `check` and `ledger` |
//!
//! Dependencies point one way: `price`, `routes`, `x402`, `evm` know nothing of `proxy`, `store`,
//! `admin`, `cli` or Pingora.

pub mod access;
pub mod admin;
pub mod billing;
pub mod cli;
pub mod clock;
pub mod config;
pub mod evm;
pub mod facilitator;
pub mod ledger;
pub mod maintenance;
pub mod price;
pub mod proxy;
pub mod rfc3339;
pub mod routes;
pub mod settlement;
pub mod snapshot;
pub mod store;
pub mod tally;
pub mod toll;
pub mod x402;

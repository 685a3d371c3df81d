//! The live configuration: an immutable table compiled from `gateway.toml`, swapped whole on reload.
//!
//! A request loads one `Arc<Snapshot>` (one atomic load) and keeps it to the end, so a reload never
//! changes the rules under a request in flight. Built only by `config/compile.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pingora::lb::LoadBalancer;
use pingora::lb::selection::RoundRobin;

use crate::access::Keyring;
use crate::clock::UnixSecs;
use crate::facilitator::{FacilitatorClient, Settler, Verifier};
use crate::routes::RouteTable;
use crate::x402::challenge::Challenge;

/// Everything a request needs to be routed, priced and forwarded.
pub struct Snapshot {
    /// Increases by one on every successful load.
    pub version: u64,
    pub loaded_at: UnixSecs,
    pub source: PathBuf,
    pub listen: Vec<String>,
    pub tls_listen: Vec<TlsListener>,
    pub admin_listen: Option<String>,
    /// SHA-256 of `[admin] token`, which the `/tabs` endpoints require.
    pub admin_token: Option<[u8; 32]>,
    pub threads: usize,
    /// Externally visible base URL, without a trailing `/`.
    pub public_url: Option<String>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub default_origin: Option<Arc<Origin>>,
    pub routes: RouteTable<Arc<Route>>,
    pub origins: BTreeMap<String, Arc<Origin>>,
    pub facilitator: Arc<FacilitatorClient>,
    /// Checks payments before forwarding (the facilitator today; local verification later).
    pub verifier: Arc<dyn Verifier>,
    /// Settles payments after the origin succeeded.
    pub settler: Arc<dyn Settler>,
    pub max_payment_header_bytes: usize,
    /// How request heads are checked and rewritten for the origin.
    pub request_rules: RequestRules,
    /// Per-connection limits (read at start; a change needs a restart).
    pub connection_limits: ConnectionLimits,
    /// `/verify` calls one client IP may have in flight.
    pub max_verifications_per_ip: usize,
    /// Whether the access log shows query strings.
    pub access_log_query: bool,
    /// Access lines as JSON objects (`[access_log] format = "json"`; read at start).
    pub access_log_json: bool,
    /// Chains verified locally (`[chains."eip155:N"]` with an RPC), by chain id.
    pub chains: BTreeMap<u64, Arc<crate::evm::chain::ChainReader>>,
    /// Chains the gateway settles on itself (`settle = "onchain"`), by chain id.
    pub onchain: BTreeMap<u64, Arc<crate::evm::settle::OnchainSettler>>,
    /// The payment ledger (read at start; a change needs a restart). `None`: disabled.
    pub ledger: Option<LedgerSettings>,
    /// Passes and sign-in: keys, nonces, pass scopes.
    pub access: AccessSettings,
    /// `[toll_booth]`, when configured.
    pub toll: Option<Arc<crate::toll::policy::TollBooth>>,
    /// The route of requests no route matches, for the toll booth to charge (default origin).
    pub toll_route: Option<Arc<Route>>,
}

/// `[access]`, compiled: the pass keys and every pass scope by its id (sign-in's nonces and
/// window live in each route's 402, `x402::challenge::SignInAdvert`).
pub struct AccessSettings {
    /// Signs and checks passes; `None` when no key is configured (no route may sell passes).
    pub keys: Option<Arc<Keyring>>,
    /// `SameSite` of the pass cookie.
    pub same_site: &'static str,
    /// What each pass scope opens, by [`crate::access::pass::scope_id`].
    pub scopes: std::collections::HashMap<u64, PassScope>,
}

/// The host and path pattern a pass opens.
pub struct PassScope {
    pub table: RouteTable<()>,
}

impl PassScope {
    /// Whether a request (already normalized path) falls in the scope.
    pub fn covers(&self, method: &str, host: &str, path: &str) -> bool {
        self.table.find(method, host, path).is_some()
    }
}

/// What a route's payment buys beside its delivery: a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassOffer {
    pub ttl_secs: u64,
    pub uses: u32,
    /// The scope's id (`AccessSettings::scopes`).
    pub scope: u64,
    /// `Path` of the pass cookie: the scope pattern up to its first wildcard.
    pub cookie_path: String,
}

/// Sign-In-With-X on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInOffer {
    /// A wallet with a payment on this route this recent is served.
    pub paid_within_secs: u64,
}

/// `[ledger]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    pub path: PathBuf,
    pub group_commit: bool,
    pub max_size_bytes: Option<u64>,
    /// fsync every commit (`sync = "full"`), or only reach the OS (`"normal"`).
    pub sync_every_commit: bool,
}

/// How request heads are checked, and which headers never reach the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRules {
    /// Largest request head accepted (431 beyond).
    pub max_header_bytes: usize,
    /// Drop every header whose name has a `_`.
    pub drop_underscore_headers: bool,
    /// Names removed before the origin, folded (lowercase, `_` as `-`).
    pub strip_headers: Vec<String>,
    /// Some route names a host: a request whose host is unknown is refused.
    pub host_scoped: bool,
}

/// Limits on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must arrive within this from its first byte.
    pub header_timeout: Duration,
    /// A connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Snapshot {
    /// Who settles payments on `chain_id`: the gateway itself, or the facilitator.
    pub fn settler_for(&self, chain_id: u64) -> &dyn Settler {
        match self.onchain.get(&chain_id) {
            Some(s) => s.as_ref(),
            None => self.settler.as_ref(),
        }
    }

    /// Whether `X-Forwarded-*` from this peer may be believed.
    pub fn is_trusted_proxy(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusted_proxies.iter().any(|net| net.contains(&ip)))
    }
}

/// An HTTPS listener: address, certificate chain and key files (checked at load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    pub listen: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A compiled route.
pub struct Route {
    /// Name in logs and metrics.
    pub name: String,
    pub origin: Arc<Origin>,
    pub pricing: Pricing,
    /// Methods served free on a priced route (`free_methods`), upper case.
    pub free_methods: Vec<String>,
    /// When a payment on this route is settled.
    pub settle: SettlePolicy,
    /// A pass sold with each payment.
    pub pass: Option<PassOffer>,
    /// `payment-identifier`: `Some(required)` when the route takes idempotency ids.
    pub payment_id: Option<bool>,
    /// Sign-In-With-X for wallets that paid before.
    pub sign_in: Option<SignInOffer>,
    /// The route's x402 price in micro-USD, when its first option is a USD stablecoin.
    pub usd_price: Option<crate::toll::usd::MicroUsd>,
    /// Its x402 offers at each toll-booth price (empty without `[toll_booth]`).
    pub toll_offers: crate::toll::policy::TollOffers,
}

/// When a route's payments are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlePolicy {
    /// Settle, then forward (non-idempotent or expensive routes): the payer is charged even if
    /// the origin then fails, and nothing reaches the origin unless the money moved.
    Before,
    /// Forward, then settle if the origin answered < 400, before the first byte goes out (the
    /// default, as the official middlewares do).
    After,
    /// Verify, forward and answer at once; the payment is written to the ledger first and settled
    /// from it later (in batches on chain). A payer owing more than the offer's `max_unsettled`
    /// is settled as `After`, and so is a protocol upgrade (before the switch).
    Background,
}

impl SettlePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
            Self::Background => "background",
        }
    }
}

/// Whether a route costs anything.
pub enum Pricing {
    Free,
    Paid(Box<Challenge>),
}

/// A named origin.
pub struct Origin {
    pub name: String,
    pub kind: OriginKind,
}

/// Where an origin's responses come from.
pub enum OriginKind {
    /// Servers reached over the network.
    Upstream(Upstream),
    /// A directory served by the gateway itself.
    Static(PathBuf),
    /// The gateway's own answer to a paid tab invoice (`proxy/invoice.rs`).
    Invoice,
}

/// A pool of origin servers.
pub struct Upstream {
    pub balancer: Arc<LoadBalancer<RoundRobin>>,
    pub tls: bool,
    /// Verify the origin's certificate (when `tls`).
    pub tls_verify: bool,
    /// CAs to verify it against instead of the system roots.
    pub ca: Option<Arc<pingora::protocols::tls::CaType>>,
    pub sni: String,
    /// `None`: keep the client's Host.
    pub host_header: Option<String>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Seconds between health checks, if checked.
    pub health_interval: Option<Duration>,
}

//! The `gateway.toml` file format: plain serde structs, defaults and one doc line per key.
//!
//! No logic lives here (STYLE habit 4): `config/compile.rs` turns these into runtime tables and reports
//! every problem with file:line:column, which is why fields that need checking are `Spanned`.
//! Unknown keys are errors, so a typo never silently disables a price.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayToml {
    #[serde(default)]
    pub server: ServerToml,
    #[serde(default)]
    pub admin: AdminToml,
    #[serde(default)]
    pub facilitator: FacilitatorToml,
    #[serde(default)]
    pub access_log: AccessLogToml,
    #[serde(default)]
    pub ledger: LedgerToml,
    /// Access without a fresh payment: pass and sign-in keys.
    #[serde(default)]
    pub access: AccessToml,
    /// Defaults for every route's payment options.
    #[serde(default)]
    pub payment: PaymentToml,
    /// Chains the gateway reads itself, by CAIP-2 id (`[chains."eip155:8453"]`): local verification.
    #[serde(default)]
    pub chains: BTreeMap<String, Spanned<ChainToml>>,
    /// Tokens beyond the built-in stablecoins, by symbol.
    #[serde(default)]
    pub assets: BTreeMap<String, AssetToml>,
    /// Named origins the routes forward to.
    #[serde(default)]
    pub origins: BTreeMap<String, Spanned<OriginToml>>,
    /// Priced and free routes; the first that matches a request wins.
    #[serde(default)]
    pub routes: Vec<Spanned<RouteToml>>,
    /// The bot toll booth: crawler identity, per-crawler prices, deferred tabs.
    #[serde(default)]
    pub toll_booth: Option<super::toll_schema::TollBoothToml>,
}

/// `[server]`: the public listener. Changing `listen` or `threads` needs a restart.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerToml {
    /// Addresses to accept requests on. Default `["127.0.0.1:8402"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<Spanned<String>>,
    /// HTTPS listeners, terminated by the gateway. Changing them needs a restart.
    #[serde(default)]
    pub tls: Vec<Spanned<TlsListenerToml>>,
    /// Worker threads. Default: the number of CPUs.
    #[serde(default)]
    pub threads: Option<usize>,
    /// The externally visible base URL (e.g. `https://api.example.com`), used for `resource.url`.
    /// Without it, the URL comes from `X-Forwarded-Proto/Host` of trusted proxies, else from `Host`.
    #[serde(default)]
    pub public_url: Option<Spanned<String>>,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-*` headers are believed. Default: none.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// The origin for requests no route matches (served free). Default: the only origin, if there is one.
    #[serde(default)]
    pub default_origin: Option<Spanned<String>>,
    /// Largest accepted `PAYMENT-SIGNATURE` / `X-PAYMENT` header, in bytes. Default 16384.
    #[serde(default = "default_max_payment_header")]
    pub max_payment_header_bytes: usize,
    /// Largest accepted request head (request line and all headers), in bytes; larger → 431.
    /// Default 32768.
    #[serde(default = "default_max_request_header")]
    pub max_request_header_bytes: usize,
    /// Literal path segments of routes compare exactly (`true`) or ignoring ASCII case, as
    /// Express, IIS and ASP.NET do (`false`, the default). Each route may override it.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Drop request headers whose name contains `_` before the origin (CGI, WSGI and Rack read
    /// `X_Payer` as `X-Payer`), as nginx does. Default true.
    #[serde(default = "default_true")]
    pub drop_underscore_headers: bool,
    /// Request headers removed before the origin (names compare ignoring case and `_`/`-`).
    /// Default: the method and URL rewrite headers that let a request name another resource
    /// (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`, `X-Original-URL`,
    /// `X-Rewrite-URL`, `X-Original-Method`).
    #[serde(default = "default_strip_request_headers")]
    pub strip_request_headers: Vec<String>,
    /// The whole head of each request must arrive within this many milliseconds of its first
    /// byte, on every request of a connection (slowloris). Default 10000. Restart to change.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// A connection waiting for its next request this long is closed. Default 60000. Restart to
    /// change.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Open client connections at most; one more is closed at once. Default 10000. Restart to
    /// change.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for ServerToml {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            tls: Vec::new(),
            threads: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            default_origin: None,
            max_payment_header_bytes: default_max_payment_header(),
            max_request_header_bytes: default_max_request_header(),
            case_sensitive: false,
            drop_underscore_headers: true,
            strip_request_headers: default_strip_request_headers(),
            header_timeout_ms: default_header_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

/// `[[server.tls]]`: one HTTPS listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListenerToml {
    /// `ip:port` to accept HTTPS on.
    pub listen: Spanned<String>,
    /// PEM certificate chain, leaf first (relative to the config file).
    pub cert: Spanned<String>,
    /// PEM private key (relative to the config file).
    pub key: Spanned<String>,
}

/// `[ledger]`: the durable record of every accepted payment (SQLite). Read at start: a change
/// needs a restart.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerToml {
    /// Record payments durably. Default true. Off: payments live in memory only (a restart
    /// forgets those in flight) and `settle = "background"` is refused.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The database file, relative to the config file; its directory is created. Default
    /// `x402-ledger/payments.sqlite` (not beside the config file: the config watcher would wake
    /// for every write).
    #[serde(default = "default_ledger_path")]
    pub path: String,
    /// Commit accepted payments in groups, one disk sync for many (each is still durable before
    /// its response leaves). Default true; false syncs once per payment.
    #[serde(default = "default_true")]
    pub group_commit: bool,
    /// Refuse payments (503, nothing forwarded) once the file reaches this many MiB. Default: no
    /// limit.
    #[serde(default)]
    pub max_size_mb: Option<f64>,
    /// `"full"` (default): every commit reaches the disk before the payment goes on (survives
    /// power loss). `"normal"`: a commit reaches the OS (survives the gateway being killed, not an
    /// OS crash) and costs no disk sync on the request path.
    #[serde(default)]
    pub sync: Option<Spanned<String>>,
}

impl Default for LedgerToml {
    fn default() -> Self {
        Self {
            enabled: true,
            path: default_ledger_path(),
            group_commit: true,
            max_size_mb: None,
            sync: None,
        }
    }
}

fn default_ledger_path() -> String {
    super::DEFAULT_LEDGER_PATH.into()
}

/// `[admin]`: health, status and metrics. Keep it on loopback.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToml {
    /// Address of the admin listener; `""` disables it. Default `127.0.0.1:9402`.
    #[serde(default = "default_admin_listen")]
    pub listen: Spanned<String>,
    /// A bearer token the `/tabs` endpoints require (`Authorization: Bearer …`), from the
    /// environment. Default none: keep the listener on loopback.
    #[serde(default)]
    pub token: Option<Spanned<EnvValue>>,
}

impl Default for AdminToml {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            token: None,
        }
    }
}

/// `[facilitator]`: who verifies and settles payments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilitatorToml {
    /// Base URL. Default `https://x402.org/facilitator` (public, testnets only).
    #[serde(default = "default_facilitator_url")]
    pub url: Spanned<String>,
    /// Timeout of `/verify` and `/supported`, in milliseconds. Default 10000.
    #[serde(default = "default_verify_timeout")]
    pub verify_timeout_ms: u64,
    /// Timeout of `/settle` (it waits for the receipt), in milliseconds. Default 60000.
    #[serde(default = "default_settle_timeout")]
    pub settle_timeout_ms: u64,
    /// Extra headers on every call, each read from an environment variable: `Authorization = { env = "FACILITATOR_AUTH" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<EnvValue>>,
    /// `"cdp"`: sign every call with a fresh Coinbase CDP JWT (Ed25519 or ES256 key). Default:
    /// none (static `headers` only).
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
    /// With `auth = "cdp"`: the API key id. Default `{ env = "CDP_API_KEY_ID" }`.
    #[serde(default)]
    pub cdp_key_id: Option<Spanned<EnvValue>>,
    /// With `auth = "cdp"`: the API key secret (base64 Ed25519, or a PEM EC key). Default
    /// `{ env = "CDP_API_KEY_SECRET" }`.
    #[serde(default)]
    pub cdp_key_secret: Option<Spanned<EnvValue>>,
    /// `/verify` calls one client IP may have in flight; one more gets 429. Default 8.
    #[serde(default = "default_max_verifications_per_ip")]
    pub max_verifications_per_ip: usize,
}

impl Default for FacilitatorToml {
    fn default() -> Self {
        Self {
            url: default_facilitator_url(),
            verify_timeout_ms: default_verify_timeout(),
            settle_timeout_ms: default_settle_timeout(),
            headers: BTreeMap::new(),
            auth: None,
            cdp_key_id: None,
            cdp_key_secret: None,
            max_verifications_per_ip: default_max_verifications_per_ip(),
        }
    }
}

/// `[access_log]`: the `access` log line of every request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogToml {
    /// Log the query string with the path (`false` keeps tokens and search terms out of logs).
    /// Default true.
    #[serde(default = "default_true")]
    pub query: bool,
    /// `"text"` (default) or `"json"`: one JSON object per access line. Read at start.
    #[serde(default)]
    pub format: Option<Spanned<String>>,
}

impl Default for AccessLogToml {
    fn default() -> Self {
        Self {
            query: true,
            format: None,
        }
    }
}

/// A secret taken from the environment, never written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvValue {
    /// Name of the environment variable.
    pub env: String,
}

/// `[access]`: the keys that sign passes and sign-in nonces.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessToml {
    /// HMAC keys as `id=secret` (comma- or newline-separated, the first signs, each secret at
    /// least 32 bytes) in this environment variable. Default: `X402_ACCESS_KEYS`, when set.
    #[serde(default)]
    pub keys: Option<Spanned<EnvValue>>,
    /// Or in this file (one `id=secret` per line), read again on every reload: rotate by putting
    /// the new key first and keeping the old one until its passes have expired.
    #[serde(default)]
    pub keys_file: Option<Spanned<String>>,
    /// How long a sign-in message is good for after the 402 offered it. Default `"5m"`.
    #[serde(default)]
    pub sign_in_max_age: Option<Spanned<String>>,
    /// `SameSite` of the pass cookie: `"Lax"` (default), `"Strict"` or `"None"`.
    #[serde(default)]
    pub cookie_same_site: Option<Spanned<String>>,
}

/// A route's `pass = { ttl, uses, scope, host }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassToml {
    /// How long a pass lasts, e.g. `"10m"`, `"1h"`.
    pub ttl: Spanned<String>,
    /// Requests it may be used for. Default: unlimited within its `ttl`.
    #[serde(default)]
    pub uses: Option<u32>,
    /// Path pattern it opens. Default: the route's own.
    #[serde(default)]
    pub scope: Option<Spanned<String>>,
    /// Host it opens. Default: the route's own.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
}

/// A route's `sign_in = { paid_within, statement }`: Sign-In-With-X for wallets that paid.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInToml {
    /// A wallet that paid this route within this long is served on sign-in. Default `"24h"`.
    #[serde(default)]
    pub paid_within: Option<Spanned<String>>,
    /// The `statement` of the message the wallet signs.
    #[serde(default)]
    pub statement: Option<String>,
}

/// `[payment]`: defaults for every payment option.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentToml {
    /// Networks offered, in preference order: CAIP-2 (`eip155:8453`) or v1 names (`base`).
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
    /// Recipient address.
    #[serde(default)]
    pub pay_to: Option<Spanned<String>>,
    /// Asset symbol (`USDC`, or a key of `[assets]`). Default `USDC`.
    #[serde(default)]
    pub asset: Option<Spanned<String>>,
    /// Seconds a signed payment stays acceptable (`maxTimeoutSeconds`). Default 300.
    #[serde(default)]
    pub max_timeout_seconds: Option<u64>,
    /// Let one route offer both mainnet and testnet networks (testnet tokens are worthless, so
    /// such a route sells for nothing). Default false: such a route is an error.
    #[serde(default)]
    pub allow_mixed_networks: bool,
    /// Under `settle = "background"`: the most one payer may owe in payments not settled yet
    /// (`"$0.50"`, `"0.5 USDC"`, or atomic units); beyond it their payments settle as `after`.
    /// Default `"$1"` (1,000 times the price for a non-USD asset).
    #[serde(default)]
    pub max_unsettled: Option<Spanned<PriceToml>>,
}

/// `[chains."eip155:N"]`: an RPC for this chain, so payments on it are verified in process.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainToml {
    /// JSON-RPC URL: a string, or `{ env = "VAR" }` when it carries an API key.
    pub rpc_url: Spanned<TextOrEnv>,
    /// `"local"` (default): signature, nonce and balance are checked here, the facilitator only
    /// settles. `"facilitator"`: keep asking the facilitator's `/verify`.
    #[serde(default)]
    pub verify: Option<Spanned<String>>,
    /// How long balances are cached, in milliseconds. Default 2000.
    #[serde(default = "default_chain_cache")]
    pub chain_cache_ms: u64,
    /// Timeout of one RPC call, in milliseconds. Default 3000.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_ms: u64,
    /// A settlement whose outcome the facilitator did not give (5xx, timeout, pending) is
    /// decided by the chain: `authorizationState` is re-checked for this long. Default 30000.
    #[serde(default = "default_reconcile_wait")]
    pub reconcile_wait_ms: u64,
    /// `"facilitator"` (default) or `"onchain"`: the gateway submits `transferWithAuthorization`
    /// itself, paying gas from `gas_key`.
    #[serde(default)]
    pub settle: Option<Spanned<String>>,
    /// The gas account's private key (hex), from the environment. Default
    /// `{ env = "GATEWAY_GAS_KEY" }`.
    #[serde(default)]
    pub gas_key: Option<Spanned<EnvValue>>,
    /// No settlement is sent while the node's gas price is above this. Default 100 gwei.
    #[serde(default = "default_max_gas_price")]
    pub max_gas_price_gwei: u64,
    /// How long a settlement transaction's receipt is awaited, in milliseconds. Default 30000.
    #[serde(default = "default_receipt_timeout")]
    pub receipt_timeout_ms: u64,
    /// Background settlements sent in one Multicall3 transaction at most (1: one transaction
    /// each). Default 100.
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
    /// How long a background settlement waits for others to share its transaction, in
    /// milliseconds. Default 200.
    #[serde(default = "default_batch_wait")]
    pub batch_wait_ms: u64,
    /// Batches being settled at once at most (simulated, sent, awaiting their receipts); the
    /// rest wait their turn in the queue. Default 4.
    #[serde(default = "default_batches_in_flight")]
    pub batches_in_flight: usize,
    /// The Multicall3 contract batches are sent through. Default its canonical address,
    /// `0xcA11bde05977b3631167028862bE2a173976CA11`.
    #[serde(default)]
    pub multicall: Option<Spanned<String>>,
}

/// A value written in the file, or read from an environment variable.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TextOrEnv {
    Text(String),
    Env(EnvValue),
}

/// `[assets.SYMBOL]`: a token that is not built in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetToml {
    pub network: Spanned<String>,
    pub address: Spanned<String>,
    pub decimals: u8,
    /// EIP-712 domain name of the token (`extra.name`).
    pub eip712_name: String,
    /// EIP-712 domain version of the token (`extra.version`).
    pub eip712_version: String,
    /// Whether one token is one US dollar (allows `"$"` prices). Default false.
    #[serde(default)]
    pub usd: bool,
}

/// `[origins.NAME]`: where requests go. Exactly one of `addresses` or `static_dir`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginToml {
    /// `host:port` of one or more servers, balanced round-robin.
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    /// Serve this directory from the gateway itself (relative to the config file).
    #[serde(default)]
    pub static_dir: Option<Spanned<String>>,
    /// Speak https to the origin. Default false.
    #[serde(default)]
    pub tls: bool,
    /// TLS server name. Default: the host of the first address.
    #[serde(default)]
    pub sni: Option<String>,
    /// Verify the origin's certificate and name against the system roots. Default true; `false`
    /// accepts any certificate (an internal origin with a self-signed one).
    #[serde(default)]
    pub tls_verify: Option<bool>,
    /// PEM file of the CAs that sign the origin's certificate (relative to the config file), for
    /// origins with a private CA. Default: the system roots.
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// `"preserve"` (default) keeps the client's Host; any other value is sent as Host.
    #[serde(default)]
    pub host_header: Option<String>,
    /// Connect timeout in milliseconds. Default 5000.
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Read timeout in milliseconds. Default 60000.
    #[serde(default)]
    pub read_timeout_ms: Option<u64>,
    #[serde(default)]
    pub health_check: Option<HealthCheckToml>,
}

/// `[origins.NAME.health_check]`: unhealthy addresses get no traffic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckToml {
    /// `"tcp"` (connect) or `"http"` (GET `path`, expect 2xx). Default `"tcp"`.
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    /// Path for `http` checks. Default `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// Seconds between checks. Default 5.
    #[serde(default)]
    pub interval_secs: Option<u64>,
}

/// `[[routes]]`: one priced or free route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteToml {
    /// Name in logs and metrics. Default `"METHODS host/path"`.
    #[serde(default)]
    pub name: Option<String>,
    /// `*` (default), `api.example.com` or `*.example.com`.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Methods, e.g. `["GET", "POST"]`; default `["*"]`. `GET` routes also match `HEAD`.
    #[serde(default)]
    pub methods: Option<Spanned<Vec<String>>>,
    /// With `methods` unset: every method is priced except these (e.g. `["OPTIONS"]`).
    #[serde(default)]
    pub free_methods: Option<Spanned<Vec<String>>>,
    /// Literal path segments compare exactly; default `[server].case_sensitive`.
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// `"after"` (default: forward, settle if the origin answered < 400, before the first byte
    /// goes out), `"before"` (settle, then forward) or `"background"` (verify, forward and answer
    /// at once; the ledger settles later, in batches with `settle = "onchain"`).
    #[serde(default)]
    pub settle: Option<Spanned<String>>,
    /// Overrides `[payment].max_unsettled` for this route.
    #[serde(default)]
    pub max_unsettled: Option<Spanned<PriceToml>>,
    /// Overrides `[payment].allow_mixed_networks` for this route.
    #[serde(default)]
    pub allow_mixed_networks: Option<bool>,
    /// Path pattern: literals, `:param`, `*` (one segment), `**` (the rest).
    pub path: Spanned<String>,
    /// `"$0.001"`, `"0.001 USDC"`, atomic units as an integer, or `"free"`.
    pub price: Spanned<PriceToml>,
    /// Origin name. Default: `server.default_origin`.
    #[serde(default)]
    pub origin: Option<Spanned<String>>,
    /// What is sold (`resource.description`).
    #[serde(default)]
    pub description: Option<String>,
    /// MIME type of the response (`resource.mimeType`).
    #[serde(default)]
    pub mime_type: Option<String>,
    /// A fixed `resource.url` instead of the request's URL.
    #[serde(default)]
    pub resource: Option<String>,
    /// Payment options in preference order; default: one per `[payment].networks`.
    #[serde(default)]
    pub accepts: Vec<Spanned<AcceptToml>>,
    /// After a payment, a pass for more requests: `{ ttl = "10m", uses = 100, scope = "/docs/**" }`.
    #[serde(default)]
    pub pass: Option<Spanned<PassToml>>,
    /// `"optional"` or `"required"`: idempotent retries by the `payment-identifier` extension.
    #[serde(default)]
    pub payment_identifier: Option<Spanned<String>>,
    /// Sign-In-With-X: a wallet that paid this route before is served without paying again.
    #[serde(default)]
    pub sign_in: Option<Spanned<SignInToml>>,
}

/// A price as written: a string or an integer of atomic units.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PriceToml {
    Text(String),
    Atomic(u64),
}

/// `[[routes.accepts]]`: one payment option; unset keys come from `[payment]` and the route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptToml {
    #[serde(default)]
    pub network: Option<Spanned<String>>,
    #[serde(default)]
    pub asset: Option<Spanned<String>>,
    #[serde(default)]
    pub pay_to: Option<Spanned<String>>,
    #[serde(default)]
    pub price: Option<Spanned<PriceToml>>,
    #[serde(default)]
    pub max_timeout_seconds: Option<u64>,
}

fn default_listen() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "127.0.0.1:8402".to_string())]
}
fn default_admin_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9402".to_string())
}
fn default_facilitator_url() -> Spanned<String> {
    Spanned::new(0..0, "https://x402.org/facilitator".to_string())
}
fn default_max_payment_header() -> usize {
    16 * 1024
}
fn default_max_request_header() -> usize {
    32 * 1024
}
fn default_true() -> bool {
    true
}
fn default_strip_request_headers() -> Vec<String> {
    [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Original-Method",
    ]
    .map(String::from)
    .to_vec()
}
fn default_header_timeout() -> u64 {
    10_000
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_max_connections() -> usize {
    10_000
}
fn default_chain_cache() -> u64 {
    2_000
}
fn default_rpc_timeout() -> u64 {
    3_000
}
fn default_max_gas_price() -> u64 {
    100
}
fn default_batch_max() -> usize {
    100
}

fn default_batches_in_flight() -> usize {
    4
}

fn default_batch_wait() -> u64 {
    200
}

fn default_receipt_timeout() -> u64 {
    30_000
}
fn default_reconcile_wait() -> u64 {
    30_000
}
fn default_max_verifications_per_ip() -> usize {
    8
}
fn default_verify_timeout() -> u64 {
    10_000
}
fn default_settle_timeout() -> u64 {
    60_000
}

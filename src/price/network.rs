//! Payment networks: CAIP-2 identifiers and the legacy v1 names that map to them.
//!
//! x402 v2 names networks in CAIP-2 (`eip155:84532`); v1 uses names (`base-sepolia`). The operator may
//! write either in `gateway.toml`; a network keeps its v1 name only if legacy v1 clients know it
//! (spec §3.2), since their zod schema rejects anything else and one bad entry breaks the whole 402.

use std::fmt;

/// An EVM payment network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Network {
    /// EVM chain id.
    pub chain_id: u64,
    /// CAIP-2 id, `eip155:<chain_id>`.
    pub caip2: String,
    /// The legacy v1 name, when legacy v1 clients accept it.
    pub v1_name: Option<&'static str>,
}

/// v1 names accepted by the legacy `x402` zod schema (spec §3.2), with their chain ids.
const V1_NAMES: &[(&str, u64)] = &[
    ("abstract", 2741),
    ("abstract-testnet", 11124),
    ("base-sepolia", 84532),
    ("base", 8453),
    ("avalanche-fuji", 43113),
    ("avalanche", 43114),
    ("iotex", 4689),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("polygon", 137),
    ("polygon-amoy", 80002),
    ("peaq", 3338),
    ("story", 1514),
    ("educhain", 41923),
    ("skale-base-sepolia", 324705682),
];

/// Names the v2 SDK maps but legacy v1 clients reject: accepted in config, never emitted in v1 bodies.
const V2_ONLY_NAMES: &[(&str, u64)] = &[
    ("ethereum", 1),
    ("sepolia", 11155111),
    ("megaeth", 4326),
    ("monad", 143),
    ("stable", 988),
    ("stable-testnet", 2201),
    ("arbitrum", 42161),
    ("arbitrum-sepolia", 421614),
];

/// Whether a network's tokens are worth anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkClass {
    Mainnet,
    /// A test network: its tokens are free to mint.
    Testnet,
    /// A chain this table does not know.
    Unknown,
}

impl std::fmt::Display for NetworkClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mainnet => "mainnet",
            Self::Testnet => "testnet",
            Self::Unknown => "unclassified",
        })
    }
}

/// Chain ids of main networks (value-bearing tokens).
const MAINNETS: &[u64] = &[
    1, 10, 137, 143, 988, 1329, 1514, 2741, 3338, 4326, 4689, 8453, 41923, 42161, 43114,
];
/// Chain ids of test and development networks (free tokens).
const TESTNETS: &[u64] = &[
    1328, 1337, 2201, 10143, 11124, 31337, 43113, 80002, 84532, 421614, 11155111, 11155420,
    324705682,
];

impl Network {
    /// Mainnet, testnet, or a chain this table does not know.
    pub fn class(&self) -> NetworkClass {
        if MAINNETS.contains(&self.chain_id) {
            NetworkClass::Mainnet
        } else if TESTNETS.contains(&self.chain_id) {
            NetworkClass::Testnet
        } else {
            NetworkClass::Unknown
        }
    }

    /// The network for an EVM chain id.
    pub fn from_chain_id(chain_id: u64) -> Self {
        let v1_name = V1_NAMES
            .iter()
            .find(|(_, id)| *id == chain_id)
            .map(|(n, _)| *n);
        Self {
            chain_id,
            caip2: format!("eip155:{chain_id}"),
            v1_name,
        }
    }

    /// Parses `eip155:<id>` or a known v1/v2 network name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(id) = text.strip_prefix("eip155:") {
            return match id.parse::<u64>() {
                Ok(chain_id) if chain_id > 0 && !id.starts_with('0') => {
                    Ok(Self::from_chain_id(chain_id))
                }
                _ => Err(format!(
                    "`{text}` is not a valid CAIP-2 EVM network: expected `eip155:<chain id>`, e.g. `eip155:8453`"
                )),
            };
        }
        if text.contains(':') {
            return Err(format!(
                "network `{text}` is not supported: only EVM networks (`eip155:<chain id>`) are supported"
            ));
        }
        V1_NAMES
            .iter()
            .chain(V2_ONLY_NAMES)
            .find(|(name, _)| *name == text)
            .map(|(_, id)| Self::from_chain_id(*id))
            .ok_or_else(|| {
                format!(
                    "unknown network `{text}`: expected a CAIP-2 id such as `eip155:84532` or a name such as `base-sepolia`"
                )
            })
    }

    /// Resolves the `network` field of a v1 payment payload to a network.
    pub fn from_v1_name(name: &str) -> Option<Self> {
        V1_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| Self::from_chain_id(*id))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.caip2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_names_map_to_caip2_and_back() {
        let n = Network::parse("base-sepolia").unwrap();
        assert_eq!(n.caip2, "eip155:84532");
        assert_eq!(n.v1_name, Some("base-sepolia"));
        assert_eq!(Network::parse("eip155:8453").unwrap().v1_name, Some("base"));
    }

    #[test]
    fn v2_only_networks_have_no_v1_name() {
        let n = Network::parse("eip155:42161").unwrap();
        assert_eq!(n.v1_name, None);
        assert_eq!(Network::parse("monad").unwrap().v1_name, None);
    }

    #[test]
    fn networks_have_a_class() {
        let class = |n: &str| Network::parse(n).unwrap().class();
        assert_eq!(class("base"), NetworkClass::Mainnet);
        assert_eq!(class("base-sepolia"), NetworkClass::Testnet);
        assert_eq!(class("eip155:31337"), NetworkClass::Testnet);
        assert_eq!(class("eip155:999999"), NetworkClass::Unknown);
    }

    #[test]
    fn rejects_bad_networks() {
        assert!(Network::parse("eip155:").is_err());
        assert!(Network::parse("eip155:0").is_err());
        assert!(Network::parse("eip155:012").is_err());
        assert!(Network::parse("solana:5eyk").is_err());
        assert!(Network::parse("basee").is_err());
    }
}

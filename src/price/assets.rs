//! Known stablecoins per network, with the EIP-712 domain the `exact` scheme signs over.
//!
//! The table follows the official SDKs' defaults (spec §5.6 and §3.2), so that `asset = "USDC"` on
//! `eip155:84532` produces exactly the requirement official clients expect. `extra.name`/`version` are
//! mandatory for EVM `exact`: clients refuse to sign without them.

/// A token a payment option can be priced in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Symbol used in prices (`"0.01 USDC"`).
    pub symbol: String,
    /// Token contract address, EIP-55 checksummed.
    pub address: String,
    /// Token decimals.
    pub decimals: u8,
    /// EIP-712 domain name (`extra.name`).
    pub eip712_name: String,
    /// EIP-712 domain version (`extra.version`).
    pub eip712_version: String,
    /// Whether one unit is one US dollar (lets `"$0.01"` prices use it).
    pub usd: bool,
}

/// (chain id, symbol, address, decimals, EIP-712 name, EIP-712 version)
const KNOWN: &[(u64, &str, &str, u8, &str, &str)] = &[
    (
        8453,
        "USDC",
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        6,
        "USD Coin",
        "2",
    ),
    (
        84532,
        "USDC",
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        6,
        "USDC",
        "2",
    ),
    (
        137,
        "USDC",
        "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
        6,
        "USD Coin",
        "2",
    ),
    (
        80002,
        "USDC",
        "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582",
        6,
        "USDC",
        "2",
    ),
    (
        42161,
        "USDC",
        "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        6,
        "USD Coin",
        "2",
    ),
    (
        421614,
        "USDC",
        "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d",
        6,
        "USD Coin",
        "2",
    ),
    (
        43114,
        "USDC",
        "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E",
        6,
        "USD Coin",
        "2",
    ),
    (
        43113,
        "USDC",
        "0x5425890298aed601595a70AB815c96711a31Bc65",
        6,
        "USD Coin",
        "2",
    ),
    (
        143,
        "USDC",
        "0x754704Bc059F8C67012fEd69BC8A327a5aafb603",
        6,
        "USD Coin",
        "2",
    ),
];

/// The known asset with this symbol on this chain.
pub fn known_asset(chain_id: u64, symbol: &str) -> Option<Asset> {
    KNOWN
        .iter()
        .find(|(id, sym, ..)| *id == chain_id && sym.eq_ignore_ascii_case(symbol))
        .map(|&(_, symbol, address, decimals, name, version)| Asset {
            symbol: symbol.to_string(),
            address: address.to_string(),
            decimals,
            eip712_name: name.to_string(),
            eip712_version: version.to_string(),
            usd: true,
        })
}

/// Symbols known on a chain, for error messages.
pub fn known_symbols(chain_id: u64) -> Vec<&'static str> {
    KNOWN
        .iter()
        .filter(|(id, ..)| *id == chain_id)
        .map(|(_, s, ..)| *s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_sepolia_usdc_matches_the_official_default() {
        let a = known_asset(84532, "usdc").unwrap();
        assert_eq!(a.address, "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
        assert_eq!(
            (a.eip712_name.as_str(), a.eip712_version.as_str()),
            ("USDC", "2")
        );
        assert_eq!(known_asset(8453, "USDC").unwrap().eip712_name, "USD Coin");
        assert!(known_asset(1, "USDC").is_none());
    }
}

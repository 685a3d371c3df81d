//! Toll-booth prices: `USD 0.002` as Cloudflare's pay-per-crawl headers write them, kept as
//! whole micro-dollars (one millionth of a US dollar), never as floats.
//!
//! An x402 offer made from a toll price pays 1 USDC per USD: USDC has 6 decimals, so a price in
//! micro-USD is the offer's amount in USDC atomic units.

use std::fmt;

/// A price in micro-USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MicroUsd(pub u64);

/// The most a single toll price may be: $1,000,000.
const MAX_MICRO: u64 = 1_000_000 * 1_000_000;

impl MicroUsd {
    /// Reads `USD 0.01` (the header form), also `$0.01` and a bare `0.01` when `lenient`
    /// (the config file). At most six decimals; more is an error, not a rounding.
    pub fn parse(text: &str, lenient: bool) -> Result<Self, String> {
        let t = text.trim();
        let amount = if let Some(rest) = t.strip_prefix("USD") {
            let rest = rest.strip_prefix(' ').ok_or_else(|| bad(t))?;
            rest.trim_start_matches(' ')
        } else if lenient {
            t.strip_prefix('$').unwrap_or(t).trim()
        } else {
            return Err(bad(t));
        };
        let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || amount.ends_with('.') {
            return Err(bad(t));
        }
        if frac.len() > 6 {
            return Err(format!(
                "`{t}` has more than six decimals: toll prices are whole micro-dollars"
            ));
        }
        let whole: u64 = int.parse().map_err(|_| bad(t))?;
        let mut micro_frac: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad(t))?
        };
        for _ in frac.len()..6 {
            micro_frac *= 10;
        }
        let micro = whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(micro_frac))
            .filter(|m| *m <= MAX_MICRO)
            .ok_or_else(|| format!("`{t}` is more than a toll price may be ($1,000,000)"))?;
        Ok(Self(micro))
    }

    /// An x402 option's amount in micro-USD, when it is a USD stablecoin (1 USDC per USD).
    pub fn of_option(option: &crate::price::PaymentOption) -> Option<Self> {
        if !option.asset.usd {
            return None;
        }
        let decimals = u32::from(option.asset.decimals);
        let micro = if decimals >= 6 {
            option.amount_atomic / 10u128.pow(decimals - 6)
        } else {
            option.amount_atomic.checked_mul(10u128.pow(6 - decimals))?
        };
        u64::try_from(micro).ok().map(Self)
    }

    /// `options` at this price: each USD stablecoin option re-priced at 1 USDC per USD; options
    /// in other tokens are left out.
    pub fn priced(
        self,
        options: &[crate::price::PaymentOption],
    ) -> Vec<crate::price::PaymentOption> {
        let decimal = decimal(self.0);
        options
            .iter()
            .filter(|o| o.asset.usd)
            .filter_map(|o| {
                let amount = crate::price::to_atomic(&decimal, o.asset.decimals).ok()?;
                Some(crate::price::PaymentOption {
                    amount_atomic: amount,
                    ..o.clone()
                })
            })
            .collect()
    }

    /// The `$0.002` form the x402 price parser reads (1 USDC per USD).
    pub fn dollars_text(self) -> String {
        format!("${}", decimal(self.0))
    }
}

fn bad(t: &str) -> String {
    format!("`{t}` is not a price like `USD 0.01`")
}

/// `0.002`: the shortest decimal with at least two fraction digits (`1.50`, `0.002`).
fn decimal(micro: u64) -> String {
    let frac = format!("{:06}", micro % 1_000_000);
    let trimmed = frac.trim_end_matches('0');
    let frac = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{}.{frac}", micro / 1_000_000)
}

/// `USD 0.01`, the header form.
impl fmt::Display for MicroUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "USD {}", decimal(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::MicroUsd;

    #[test]
    fn header_form_round_trips() {
        for (text, micro) in [
            ("USD 0.01", 10_000),
            ("USD 0.002", 2_000),
            ("USD 1.50", 1_500_000),
            ("USD 100.00", 100_000_000),
            ("USD 0.000001", 1),
        ] {
            let price = MicroUsd::parse(text, false).expect(text);
            assert_eq!(price.0, micro, "{text}");
            assert_eq!(price.to_string(), text);
        }
        assert_eq!(MicroUsd(0).to_string(), "USD 0.00");
        assert_eq!(MicroUsd(2_000).dollars_text(), "$0.002");
    }

    #[test]
    fn refuses_what_is_not_a_price() {
        for text in [
            "0.01",
            "$0.01",
            "USD",
            "USD ",
            "USD -1",
            "USD 0.0000001",
            "USD 1e3",
            "EUR 0.01",
            "USD0.01",
            "USD 1.",
            "USD .5",
            "USD 10000000",
        ] {
            assert!(MicroUsd::parse(text, false).is_err(), "{text}");
        }
        assert_eq!(MicroUsd::parse("$0.05", true), Ok(MicroUsd(50_000)));
        assert_eq!(MicroUsd::parse("0.05", true), Ok(MicroUsd(50_000)));
    }
}

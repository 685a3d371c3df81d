//! Prices as the operator writes them, turned into exact atomic token units.
//!
//! `"$0.001"` (USD stablecoins only), `"0.001 USDC"` (by symbol) or a bare TOML integer of atomic units.
//! Decimal arithmetic is done on the digits, never on floats: the legacy middleware's float math turns
//! `$0.00051` into `"510.00000000000006"` (spec §3.5), which legacy clients then reject.

/// What a price string names before the asset is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceText {
    /// `"$1.25"`: an amount of US dollars, payable in a USD stablecoin.
    Usd(String),
    /// `"1.25 USDC"`: an amount of the token with this symbol.
    Token { amount: String, symbol: String },
    /// An integer of atomic units of the option's asset.
    Atomic(u128),
    /// `"free"`: no payment.
    Free,
}

/// Splits a price string into its kind and decimal text.
pub fn parse_price_text(text: &str) -> Result<PriceText, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("free") {
        return Ok(PriceText::Free);
    }
    if let Some(rest) = t.strip_prefix('$') {
        check_decimal(rest.trim())?;
        return Ok(PriceText::Usd(rest.trim().to_string()));
    }
    let mut parts = t.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(amount), Some(symbol), None) => {
            check_decimal(amount)?;
            Ok(PriceText::Token {
                amount: amount.to_string(),
                symbol: symbol.to_string(),
            })
        }
        _ => Err(format!(
            "price `{t}` is not understood: expected `\"$0.001\"`, `\"0.001 USDC\"`, an integer of atomic units, or `\"free\"`"
        )),
    }
}

fn check_decimal(s: &str) -> Result<(), String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let ok = !(s.is_empty() || int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(s.ends_with('.') && frac.is_empty() && int.is_empty());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a decimal amount: expected digits with an optional fraction, e.g. `0.001`"
        ))
    }
}

/// Converts a decimal amount to atomic units of a token with `decimals` decimals, exactly.
///
/// Errors when the amount has more fractional digits than the token can represent (other than
/// trailing zeros), when it is zero, or when it overflows.
pub fn to_atomic(decimal: &str, decimals: u8) -> Result<u128, String> {
    check_decimal(decimal)?;
    let (int, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > decimals as usize {
        return Err(format!(
            "`{decimal}` is below the token's smallest unit: it has {} decimals, so the smallest price is 0.{}1",
            decimals,
            "0".repeat(decimals.saturating_sub(1) as usize)
        ));
    }
    let mut digits = String::with_capacity(int.len() + decimals as usize);
    digits.push_str(int);
    digits.push_str(frac_trimmed);
    for _ in frac_trimmed.len()..decimals as usize {
        digits.push('0');
    }
    let value: u128 =
        digits
            .trim_start_matches('0')
            .parse()
            .or_else(|e: std::num::ParseIntError| {
                if digits.bytes().all(|b| b == b'0') {
                    Ok(0)
                } else {
                    Err(format!("`{decimal}` is too large: {e}"))
                }
            })?;
    if value == 0 {
        return Err(format!(
            "`{decimal}` is zero: write `price = \"free\"` for a free route"
        ));
    }
    Ok(value)
}

/// Formats atomic units as a decimal amount (for paywall pages and logs).
pub fn format_atomic(atomic: u128, decimals: u8) -> String {
    let s = atomic.to_string();
    let d = decimals as usize;
    if d == 0 {
        return s;
    }
    let padded = format!("{s:0>width$}", width = d + 1);
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_convert_exactly() {
        assert_eq!(to_atomic("0.001", 6), Ok(1000));
        assert_eq!(to_atomic("0.00051", 6), Ok(510));
        assert_eq!(to_atomic("1", 6), Ok(1_000_000));
        assert_eq!(to_atomic("1.", 6), Ok(1_000_000));
        assert_eq!(to_atomic(".5", 6), Ok(500_000));
        assert_eq!(to_atomic("0.0010000000", 6), Ok(1000));
        assert_eq!(to_atomic("12.345678", 6), Ok(12_345_678));
    }

    #[test]
    fn every_micro_price_is_exact() {
        // The float bug of the legacy middleware hits 2308 of these; exact math hits none.
        for micros in 1u128..100_000 {
            let text = format_atomic(micros * 10, 6);
            assert_eq!(to_atomic(&text, 6), Ok(micros * 10), "{text}");
        }
    }

    #[test]
    fn below_one_unit_is_an_error() {
        let e = to_atomic("0.0000001", 6).unwrap_err();
        assert!(e.contains("smallest"), "{e}");
        assert!(to_atomic("0", 6).unwrap_err().contains("free"));
    }

    #[test]
    fn malformed_amounts_are_errors() {
        for bad in ["", ".", "1.2.3", "-1", "1e3", "0x10", "1,5", " "] {
            assert!(to_atomic(bad, 6).is_err(), "{bad:?}");
        }
        assert!(to_atomic("999999999999999999999999999999999999999999", 6).is_err());
    }

    #[test]
    fn price_texts() {
        assert_eq!(parse_price_text("$0.01"), Ok(PriceText::Usd("0.01".into())));
        assert_eq!(
            parse_price_text("0.01 USDC"),
            Ok(PriceText::Token {
                amount: "0.01".into(),
                symbol: "USDC".into()
            })
        );
        assert_eq!(parse_price_text("FREE"), Ok(PriceText::Free));
        assert!(parse_price_text("1000").is_err());
        assert!(parse_price_text("$abc").is_err());
    }

    #[test]
    fn formats_atomic() {
        assert_eq!(format_atomic(1000, 6), "0.001");
        assert_eq!(format_atomic(1_500_000, 6), "1.5");
        assert_eq!(format_atomic(2_000_000, 6), "2");
        assert_eq!(format_atomic(7, 0), "7");
    }
}

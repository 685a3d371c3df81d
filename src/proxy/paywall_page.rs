//! The HTML paywall for browsers (spec §8.4): what is sold, the price, the networks. The page is
//! served with the same `PAYMENT-REQUIRED` header, so a wallet extension or script can still pay.

use crate::price::format_atomic;
use crate::x402::challenge::Challenge;

/// Renders the paywall page of a route.
pub fn render(challenge: &Challenge, url: &str) -> String {
    let mut options = String::new();
    for offer in challenge.offers() {
        options.push_str(&format!(
            "<li><strong>{} {}</strong> on <code>{}</code>{} &mdash; pay to <code>{}</code></li>\n",
            escape(&format_atomic(
                offer.v2.amount.parse().unwrap_or(0),
                offer.decimals
            )),
            escape(
                offer
                    .v2
                    .extra
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
            ),
            escape(&offer.v2.network),
            offer
                .v1
                .as_ref()
                .map(|v| format!(" ({})", escape(&v.network)))
                .unwrap_or_default(),
            escape(&offer.v2.pay_to),
        ));
    }
    let description = if challenge.description().is_empty() {
        "This resource"
    } else {
        challenge.description()
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Payment required</title>
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}}
code{{background:#f3f3f3;padding:0 .25rem;border-radius:3px;word-break:break-all}}li{{margin:.5rem 0}}</style></head>
<body><h1>402 &mdash; Payment required</h1>
<p><strong>{description}</strong> at <code>{url}</code> is sold per request with <a href="https://www.x402.org">x402</a>.</p>
<p>Price, in order of preference:</p>
<ul>
{options}</ul>
<p>Pay with an x402 client (for example <code>@x402/fetch</code>): it reads the <code>PAYMENT-REQUIRED</code> header of this response,
signs a USDC transfer authorization and repeats the request with a <code>PAYMENT-SIGNATURE</code> header.</p>
</body></html>
"#,
        description = escape(description),
        url = escape(url),
    )
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

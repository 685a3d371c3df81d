//! Cloudflare's pay-per-crawl dialect on the gateway's own 402 (toll-booth.md §3): header names
//! and every `crawler-error` code with Cloudflare's status.
//!
//! Where Cloudflare has no code (an unknown key, a replayed nonce, a test key, an expired
//! signature), the gateway answers `InvalidSignature` (400), and says which in the JSON body's
//! `reason`.

/// The price of this resource (402), or the origin's in-band price (origin → gateway).
pub const CRAWLER_PRICE: &str = "crawler-price";
/// Pay exactly the quoted price (request).
pub const CRAWLER_EXACT_PRICE: &str = "crawler-exact-price";
/// Pay anything up to this (request).
pub const CRAWLER_MAX_PRICE: &str = "crawler-max-price";
/// What this response was charged (2xx).
pub const CRAWLER_CHARGED: &str = "crawler-charged";
/// A machine-readable error code (refusals).
pub const CRAWLER_ERROR: &str = "crawler-error";
/// Gateway → origin: whether the origin may set this response's price in band.
pub const PAY_PER_CRAWL: &str = "cf-pay-per-crawl";

/// Every `crawler-error` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlerError {
    CrawlerForbidden,
    StrongAuthRequired,
    InvalidSignature,
    InvalidCrawlerPriceValue,
    MissingCrawlerPrice,
    PaymentFailed,
    InvalidCrawlerExactPrice,
    InvalidCrawlerMaxPrice,
    ConflictingPriceHeaders,
    InvalidContentPrice,
    InternalError,
}

impl CrawlerError {
    /// The code, as Cloudflare spells it.
    pub fn code(self) -> &'static str {
        match self {
            Self::CrawlerForbidden => "CrawlerForbidden",
            Self::StrongAuthRequired => "StrongAuthRequired",
            Self::InvalidSignature => "InvalidSignature",
            Self::InvalidCrawlerPriceValue => "InvalidCrawlerPriceValue",
            Self::MissingCrawlerPrice => "MissingCrawlerPrice",
            Self::PaymentFailed => "PaymentFailed",
            Self::InvalidCrawlerExactPrice => "InvalidCrawlerExactPrice",
            Self::InvalidCrawlerMaxPrice => "InvalidCrawlerMaxPrice",
            Self::ConflictingPriceHeaders => "ConflictingPriceHeaders",
            Self::InvalidContentPrice => "InvalidContentPrice",
            Self::InternalError => "InternalError",
        }
    }

    /// Cloudflare's status for the code.
    pub fn status(self) -> u16 {
        match self {
            Self::CrawlerForbidden | Self::PaymentFailed => 403,
            Self::StrongAuthRequired
            | Self::InvalidSignature
            | Self::InvalidCrawlerPriceValue
            | Self::ConflictingPriceHeaders => 400,
            Self::MissingCrawlerPrice
            | Self::InvalidCrawlerExactPrice
            | Self::InvalidCrawlerMaxPrice => 402,
            Self::InvalidContentPrice => 502,
            Self::InternalError => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CrawlerError::*;

    #[test]
    fn codes_carry_cloudflares_statuses() {
        let table = [
            (CrawlerForbidden, 403),
            (StrongAuthRequired, 400),
            (InvalidSignature, 400),
            (InvalidCrawlerPriceValue, 400),
            (MissingCrawlerPrice, 402),
            (PaymentFailed, 403),
            (InvalidCrawlerExactPrice, 402),
            (InvalidCrawlerMaxPrice, 402),
            (ConflictingPriceHeaders, 400),
            (InvalidContentPrice, 502),
            (InternalError, 500),
        ];
        for (code, status) in table {
            assert_eq!(code.status(), status, "{}", code.code());
        }
    }
}

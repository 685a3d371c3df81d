//! Credentials never reach logs or `/status`: URLs are shown with their user info and query
//! values masked (`https://***@host/path?key=***`).

/// `url` with user info and every query value replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        out.push('?');
        let masked: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=***"),
                None => pair.to_string(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn masks_user_info_and_query_values() {
        assert_eq!(
            redact_url("https://user:pw@fac.example/x402?key=s3cret&v=2"),
            "https://***@fac.example/x402?key=***&v=***"
        );
        assert_eq!(
            redact_url("https://x402.org/facilitator"),
            "https://x402.org/facilitator"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/p?flag"),
            "http://127.0.0.1:9/p?flag"
        );
    }
}

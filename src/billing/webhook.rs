//! A batch's webhook delivery: one POST of the invoice JSON, signed with HMAC-SHA256 over
//! `<timestamp>.<body>` (`X402-Webhook-Signature: t=<unix secs>,v1=<hex>`), with the batch id as
//! its `Idempotency-Key`, so a receiver that saw a delivery whose answer was lost can tell a
//! retry from a new batch. Any 2xx is accepted; anything else is retried with backoff.

use std::time::Duration;

use crate::toll::policy::TabWebhook;

/// Each attempt's limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The signature header's value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!(
        "t={t},v1={}",
        alloy_primitives::hex::encode(ctx.sign().as_ref())
    )
}

/// Whether `header` signs `body` with `secret` (what a receiver checks; used by the tests).
pub fn verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = alloy_primitives::hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(tag)) = (t, v1) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut message = t.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    ring::hmac::verify(&key, &message, &tag).is_ok()
}

/// How long to wait after `attempts` failed attempts: the hook's delay, doubled each time.
pub fn backoff(hook: &TabWebhook, attempts: u32) -> Duration {
    let first = Duration::from_secs(hook.retry_delay_secs);
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    first.saturating_mul(factor).min(MAX_DELAY)
}

/// One attempt: `Ok` on a 2xx answer, else why not.
pub async fn post(
    client: &reqwest::Client,
    hook: &TabWebhook,
    batch: &str,
    body: &[u8],
    now_secs: u64,
    attempt: u32,
) -> Result<(), String> {
    let answer = client
        .post(&hook.url)
        .timeout(ATTEMPT_TIMEOUT)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", batch)
        .header("X402-Webhook-Attempt", attempt.to_string())
        .header(
            "X402-Webhook-Signature",
            signature(&hook.secret, now_secs, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("webhook not reached: {e}"))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook answered {}", answer.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> TabWebhook {
        TabWebhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret: b"s3cret".to_vec(),
            retries: 8,
            retry_delay_secs: 30,
        }
    }

    #[test]
    fn a_signature_verifies_only_for_its_secret_and_body() {
        let header = signature(b"s3cret", 1_796_169_600, b"{\"id\":1}");
        assert!(header.starts_with("t=1796169600,v1="), "{header}");
        assert!(verify(b"s3cret", &header, b"{\"id\":1}"));
        assert!(!verify(b"other", &header, b"{\"id\":1}"));
        assert!(!verify(b"s3cret", &header, b"{\"id\":2}"));
        let moved = header.replace("t=1796169600", "t=1796169601");
        assert!(
            !verify(b"s3cret", &moved, b"{\"id\":1}"),
            "the time is signed"
        );
        assert!(!verify(b"s3cret", "v1=00", b""));
    }

    #[test]
    fn retries_back_off_to_at_most_an_hour() {
        let h = hook();
        assert_eq!(backoff(&h, 1), Duration::from_secs(30));
        assert_eq!(backoff(&h, 2), Duration::from_secs(60));
        assert_eq!(backoff(&h, 4), Duration::from_secs(240));
        assert_eq!(backoff(&h, 40), MAX_DELAY);
    }
}

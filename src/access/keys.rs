//! The gateway's HMAC keys, by key id: the first signs, every listed one verifies. Rotation: put
//! the new key first and keep the old one until its passes have expired; a key taken off the
//! list is retired, and what it signed is refused.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Shortest secret accepted, in bytes (HMAC-SHA256 wants at least its output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Keys by id, signing key first.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, hmac::Key)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: secrets are never printed.
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

impl Keyring {
    /// Parses `id=secret` entries separated by commas or new lines (`#` starts a comment line).
    /// Ids are 1-32 of `[A-Za-z0-9_-]`; secrets at least [`MIN_SECRET_BYTES`] bytes. The error
    /// never contains a secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, hmac::Key)> = Vec::new();
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'))
        {
            let Some((id, secret)) = entry.split_once('=') else {
                return Err("each key is written `id=secret`".into());
            };
            let (id, secret) = (id.trim(), secret.trim());
            if id.is_empty()
                || id.len() > 32
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "key id `{id}` must be 1-32 letters, digits, `_` or `-`"
                ));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "the secret of key `{id}` is shorter than {MIN_SECRET_BYTES} bytes"
                ));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("key id `{id}` is listed twice"));
            }
            keys.push((
                id.to_string(),
                hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            ));
        }
        if keys.is_empty() {
            return Err("no key is listed".into());
        }
        Ok(Self { keys })
    }

    /// A fresh random key known only to this process (id `local`): for nonces that live minutes.
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        // The system RNG failing leaves no safe key to make; it does not fail on Linux.
        #[allow(clippy::expect_used)]
        SystemRandom::new()
            .fill(&mut secret)
            .expect("system random source");
        Self {
            keys: vec![("local".into(), hmac::Key::new(hmac::HMAC_SHA256, &secret))],
        }
    }

    /// The signing key and its id.
    pub fn signer(&self) -> (&str, &hmac::Key) {
        let (id, key) = &self.keys[0];
        (id, key)
    }

    /// The key with this id, if it is still listed.
    pub fn get(&self, id: &str) -> Option<&hmac::Key> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    /// Every key, signing key first.
    pub fn all(&self) -> impl Iterator<Item = &hmac::Key> {
        self.keys.iter().map(|(_, key)| key)
    }

    /// Key ids, signing key first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn first_key_signs_all_verify() {
        let k = Keyring::parse(&format!("new={S}x, old={S}y")).unwrap();
        assert_eq!(k.signer().0, "new");
        assert!(k.get("old").is_some());
        assert!(k.get("gone").is_none());
        assert_eq!(k.ids().collect::<Vec<_>>(), ["new", "old"]);
    }

    #[test]
    fn refuses_short_secrets_bad_ids_and_duplicates_without_echoing_secrets() {
        let short = Keyring::parse("a=tooshort").unwrap_err();
        assert!(!short.contains("tooshort"), "{short}");
        assert!(Keyring::parse(&format!("a b={S}")).is_err());
        assert!(Keyring::parse(&format!("a={S},a={S}")).is_err());
        assert!(Keyring::parse("# only a comment\n").is_err());
        assert!(Keyring::parse(&format!("# c\nk1={S}\n")).is_ok());
    }
}

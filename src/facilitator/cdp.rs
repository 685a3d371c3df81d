//! Coinbase CDP facilitator auth (spec §7 "CDP auth"): every call carries
//! `Authorization: Bearer <JWT>`, a fresh JWT per call, signed with the operator's CDP Secret API
//! key: Ed25519 (`EdDSA`) or P-256 EC (`ES256`).
//!
//! Header `{alg, kid, typ: "JWT", nonce}`, claims `{sub: key id, iss: "cdp", nbf: now,
//! exp: now + 120, uris: ["POST host/path"]}`. Key material comes from environment variables and
//! is never printed: `Debug` shows the key id only, and parse errors never quote the secret.
//! Signing uses `ring` (already in the tree through rustls).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

use crate::clock::UnixSecs;

/// Seconds a JWT is valid, as the CDP SDKs issue them.
const JWT_LIFETIME_SECS: u64 = 120;

/// The key id and secret as configured (compared to decide whether a reload keeps the client).
#[derive(Clone, PartialEq, Eq)]
pub struct CdpCredentials {
    pub key_id: String,
    /// Ed25519: base64 of the 64-byte key (seed ‖ public key) or of the 32-byte seed.
    /// EC: a PEM private key (SEC1 `EC PRIVATE KEY` or PKCS#8).
    pub secret: String,
}

impl fmt::Debug for CdpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CdpCredentials")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

enum Key {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
}

/// Signs CDP JWTs.
pub struct CdpSigner {
    key_id: String,
    key: Key,
    rng: SystemRandom,
}

impl fmt::Debug for CdpSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = match self.key {
            Key::Ed25519(_) => "EdDSA",
            Key::Es256(_) => "ES256",
        };
        write!(f, "CdpSigner({}, {alg})", self.key_id)
    }
}

impl CdpSigner {
    /// Parses the secret; the error says what is wrong without quoting it.
    pub fn new(credentials: &CdpCredentials) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let secret = credentials.secret.trim();
        let key = if secret.contains("-----BEGIN") {
            ec_key(secret, &rng)?
        } else {
            ed25519_key(secret)?
        };
        Ok(Self {
            key_id: credentials.key_id.clone(),
            key,
            rng,
        })
    }

    /// A fresh `Authorization` value for `method url` (the URL with its scheme), at `now`.
    pub fn authorization(&self, method: &str, url: &str, now: UnixSecs) -> Result<String, String> {
        let mut nonce = [0u8; 16];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| "no randomness for the JWT nonce".to_string())?;
        let alg = match self.key {
            Key::Ed25519(_) => "EdDSA",
            Key::Es256(_) => "ES256",
        };
        let header = serde_json::json!({
            "alg": alg,
            "kid": self.key_id,
            "typ": "JWT",
            "nonce": alloy_primitives::hex::encode(nonce),
        });
        let target = url.split_once("://").map_or(url, |(_, rest)| rest);
        let target = target.split_once('?').map_or(target, |(t, _)| t);
        let claims = serde_json::json!({
            "sub": self.key_id,
            "iss": "cdp",
            "nbf": now,
            "exp": now + JWT_LIFETIME_SECS,
            "uris": [format!("{method} {target}")],
        });
        let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = match &self.key {
            Key::Ed25519(k) => k.sign(jwt.as_bytes()).as_ref().to_vec(),
            Key::Es256(k) => k
                .sign(&self.rng, jwt.as_bytes())
                .map_err(|_| "ES256 signing failed".to_string())?
                .as_ref()
                .to_vec(),
        };
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(format!("Bearer {jwt}"))
    }
}

fn ed25519_key(secret: &str) -> Result<Key, String> {
    let bytes = STANDARD
        .decode(secret)
        .map_err(|_| "the CDP secret is neither a PEM EC key nor base64".to_string())?;
    let (seed, public) = match bytes.len() {
        64 => (&bytes[..32], Some(&bytes[32..])),
        32 => (&bytes[..], None),
        n => {
            return Err(format!(
                "an Ed25519 CDP secret has 64 (or 32) bytes, this one {n}"
            ));
        }
    };
    let pair = Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|_| "the Ed25519 CDP secret is not a valid key".to_string())?;
    if public.is_some_and(|p| p != pair.public_key().as_ref()) {
        return Err("the Ed25519 CDP secret's public half does not match its seed".into());
    }
    Ok(Key::Ed25519(pair))
}

fn ec_key(pem: &str, rng: &SystemRandom) -> Result<Key, String> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "the CDP secret is not a readable PEM private key".to_string())?;
    let pkcs8 = match der {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        PrivateKeyDer::Sec1(k) => sec1_to_pkcs8(k.secret_sec1_der()),
        _ => return Err("the CDP EC secret must be a SEC1 or PKCS#8 P-256 key".into()),
    };
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, rng)
        .map(Key::Es256)
        .map_err(|_| "the CDP EC secret is not a P-256 private key".to_string())
}

/// Wraps a SEC1 `ECPrivateKey` for P-256 in PKCS#8 (RFC 5208), the form `ring` reads.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { id-ecPublicKey, prime256v1 }
    const ALGORITHM: [u8; 21] = [
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(&ALGORITHM);
    body.push(0x04);
    der_len(&mut body, sec1.len());
    body.extend_from_slice(sec1);
    let mut out = vec![0x30];
    der_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    fn credentials(secret: String) -> CdpCredentials {
        CdpCredentials {
            key_id: "organizations/o/apiKeys/k".into(),
            secret,
        }
    }

    fn parts(auth: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let jwt = auth.strip_prefix("Bearer ").unwrap();
        let p: Vec<&str> = jwt.split('.').collect();
        let json = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
        (
            json(p[0]),
            json(p[1]),
            URL_SAFE_NO_PAD.decode(p[2]).unwrap(),
            format!("{}.{}", p[0], p[1]),
        )
    }

    #[test]
    fn ed25519_jwts_carry_the_cdp_claims_and_verify() {
        let seed = [3u8; 32];
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let mut secret = seed.to_vec();
        secret.extend_from_slice(pair.public_key().as_ref());
        let signer = CdpSigner::new(&credentials(STANDARD.encode(&secret))).unwrap();
        let url = "https://api.cdp.coinbase.com/platform/v2/x402/verify";
        let a = signer.authorization("POST", url, 1_000).unwrap();
        let (header, claims, sig, input) = parts(&a);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], "organizations/o/apiKeys/k");
        assert_eq!(claims["iss"], "cdp");
        assert_eq!(claims["sub"], header["kid"]);
        assert_eq!(
            (claims["nbf"].as_u64(), claims["exp"].as_u64()),
            (Some(1_000), Some(1_120))
        );
        assert_eq!(
            claims["uris"][0],
            "POST api.cdp.coinbase.com/platform/v2/x402/verify"
        );
        UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref())
            .verify(input.as_bytes(), &sig)
            .unwrap();
        let b = signer.authorization("POST", url, 1_000).unwrap();
        assert_ne!(
            parts(&b).0["nonce"],
            header["nonce"],
            "a fresh JWT per call"
        );
    }

    #[test]
    fn bad_secrets_are_refused_without_quoting_them() {
        for secret in [
            "not base64 !!",
            "AAAA",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        ] {
            let e = CdpSigner::new(&credentials(secret.to_string())).unwrap_err();
            assert!(!e.contains(secret.trim()), "{e}");
        }
        let shown = format!("{:?}", credentials("s3cret".into()));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn sec1_is_wrapped_into_pkcs8_that_ring_reads_back() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        // The SEC1 key is the OCTET STRING at the end of ring's PKCS#8 (after the 21-byte
        // algorithm identifier, the version and the OCTET STRING header).
        let der = pkcs8.as_ref();
        let start = der
            .windows(ALGO_TAIL.len())
            .position(|w| w == ALGO_TAIL)
            .unwrap()
            + ALGO_TAIL.len();
        let (len, skip) = match der[start + 1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (der[start + 2] as usize, 3),
            _ => (
                ((der[start + 2] as usize) << 8) | der[start + 3] as usize,
                4,
            ),
        };
        let sec1 = &der[start + skip..start + skip + len];
        let rewrapped = sec1_to_pkcs8(sec1);
        assert!(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rewrapped, &rng).is_ok()
        );
    }

    const ALGO_TAIL: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
}

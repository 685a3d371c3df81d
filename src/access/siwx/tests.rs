use alloy_primitives::{Address, eip191_hash_message};
use secp256k1::{Message, SECP256K1, SecretKey};

use super::*;
use crate::rfc3339::format_rfc3339_ms;

fn iso8601(secs: u64) -> String {
    format_rfc3339_ms(secs * 1000)
}

const NOW: u64 = 1_796_276_400;
const URL: &str = "http://127.0.0.1:8402/docs/a";

fn key() -> SecretKey {
    SecretKey::from_byte_array([0x42; 32]).unwrap()
}

fn address(sk: &SecretKey) -> Address {
    let pk = secp256k1::PublicKey::from_secret_key(SECP256K1, sk);
    Address::from_raw_public_key(&pk.serialize_uncompressed()[1..])
}

fn nonces() -> Nonces {
    Nonces::new(Keyring::parse("k=0123456789abcdef0123456789abcdef").unwrap())
}

fn sign_in(n: &Nonces, issued: u64, sk: &SecretKey) -> SignIn {
    let issued_at = iso8601(issued);
    let mut s = SignIn {
        domain: "127.0.0.1:8402".into(),
        address: address(sk).to_checksum(None),
        statement: None,
        uri: URL.into(),
        version: "1".into(),
        chain_id: "eip155:84532".into(),
        kind: "eip191".into(),
        nonce: n.mint(&issued_at, URL),
        issued_at,
        expiration_time: Some(iso8601(issued + 300)),
        not_before: None,
        request_id: None,
        resources: Some(vec![URL.into()]),
        signature: String::new(),
    };
    sign(&mut s, sk);
    s
}

fn sign(s: &mut SignIn, sk: &SecretKey) {
    let digest = eip191_hash_message(message(s).unwrap().as_bytes());
    let (id, rs) = SECP256K1
        .sign_ecdsa_recoverable(Message::from_digest(digest.0), sk)
        .serialize_compact();
    let mut raw = rs.to_vec();
    raw.push(27 + i32::from(id) as u8);
    s.signature = format!("0x{}", alloy_primitives::hex::encode(raw));
}

fn expect(now: u64) -> (Vec<String>, u64) {
    (vec!["eip155:84532".to_string()], now)
}

fn check(n: &Nonces, s: &SignIn, now: u64) -> Result<(Address, u64), SignInError> {
    let (chains, now) = expect(now);
    verify(
        n,
        s,
        &Expect {
            domain: "127.0.0.1:8402",
            resource: URL,
            chains: &chains,
            max_age_secs: 300,
            now,
        },
    )
}

#[test]
fn the_message_is_the_one_the_official_client_signs() {
    // Text of `formatSIWEMessage` (@x402/extensions 2.27, @signinwithethereum/siwe 4).
    let s = SignIn {
        domain: "a.example".into(),
        address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".into(),
        statement: None,
        uri: "http://a.example/x".into(),
        version: "1".into(),
        chain_id: "eip155:84532".into(),
        kind: "eip191".into(),
        nonce: "00112233445566778899aabbccddeeff".into(),
        issued_at: "2026-12-02T05:40:00.000Z".into(),
        expiration_time: None,
        not_before: None,
        request_id: None,
        resources: Some(vec!["http://a.example/x".into()]),
        signature: String::new(),
    };
    assert_eq!(
        message(&s).unwrap(),
        "a.example wants you to sign in with your Ethereum account:\n\
         0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\n\n\
         URI: http://a.example/x\nVersion: 1\nChain ID: 84532\n\
         Nonce: 00112233445566778899aabbccddeeff\nIssued At: 2026-12-02T05:40:00.000Z\n\
         Resources:\n- http://a.example/x"
    );
    let with = SignIn {
        statement: Some("Sign in".into()),
        resources: None,
        ..s
    };
    assert!(
        message(&with)
            .unwrap()
            .contains("92266\n\nSign in\n\nURI: ")
    );
}

#[test]
fn a_good_sign_in_verifies_and_names_its_wallet() {
    let n = nonces();
    let s = sign_in(&n, NOW, &key());
    let (who, until) = check(&n, &s, NOW + 10).unwrap();
    assert_eq!(who, address(&key()));
    assert!(until >= NOW + 300);
}

#[test]
fn forged_expired_moved_and_foreign_sign_ins_are_refused() {
    let n = nonces();
    let good = sign_in(&n, NOW, &key());

    let mut forged = good.clone();
    forged.signature.replace_range(
        20..21,
        if &forged.signature[20..21] == "a" {
            "b"
        } else {
            "a"
        },
    );
    assert!(matches!(
        check(&n, &forged, NOW),
        Err(SignInError::Signature | SignInError::Malformed)
    ));

    let other = SecretKey::from_byte_array([0x43; 32]).unwrap();
    let mut someone_else = good.clone();
    sign(&mut someone_else, &other);
    assert_eq!(check(&n, &someone_else, NOW), Err(SignInError::Signature));

    assert_eq!(check(&n, &good, NOW + 301), Err(SignInError::Expired));

    // The wallet re-dates its message: the nonce no longer matches.
    let mut redated = good.clone();
    redated.issued_at = iso8601(NOW + 5);
    sign(&mut redated, &key());
    assert_eq!(check(&n, &redated, NOW + 6), Err(SignInError::Nonce));

    // A nonce from another gateway key.
    let foreign = sign_in(&Nonces::new(Keyring::random()), NOW, &key());
    assert_eq!(check(&n, &foreign, NOW), Err(SignInError::Nonce));

    let mut moved = good.clone();
    moved.uri = "http://127.0.0.1:8402/docs/b".into();
    assert_eq!(check(&n, &moved, NOW), Err(SignInError::UriMismatch));
    let mut domain = good.clone();
    domain.domain = "evil.example".into();
    assert_eq!(check(&n, &domain, NOW), Err(SignInError::DomainMismatch));
    let mut chain = good.clone();
    chain.chain_id = "eip155:1".into();
    assert_eq!(check(&n, &chain, NOW), Err(SignInError::UnsupportedChain));
    assert_eq!(check(&n, &good, NOW - 60), Err(SignInError::IssuedAt));
}

#[test]
fn the_header_is_base64_json() {
    let n = nonces();
    let s = sign_in(&n, NOW, &key());
    let json = serde_json::json!({
        "domain": s.domain, "address": s.address, "uri": s.uri, "version": "1",
        "chainId": s.chain_id, "type": "eip191", "nonce": s.nonce, "issuedAt": s.issued_at,
        "expirationTime": s.expiration_time, "resources": s.resources, "signature": s.signature,
    });
    let header = STANDARD.encode(json.to_string());
    let decoded = decode(header.as_bytes()).unwrap();
    assert!(check(&n, &decoded, NOW).is_ok());
    assert_eq!(decode(b"%%%").unwrap_err(), SignInError::Malformed);
    assert_eq!(
        decode(STANDARD.encode("{}").as_bytes()).unwrap_err(),
        SignInError::Malformed
    );
}

//! Responses and URLs the fetcher must refuse.

use super::*;

async fn refused_once(respond: fn(usize, &str, &str) -> Vec<u8>, limits: Limits) -> DirectoryError {
    let (base, hits) = serve(Duration::ZERO, respond).await;
    let dirs = Directories::new(limits);
    let err = dirs
        .key(&format!("{base}{WELL_KNOWN}"), TEST_KEYID, NOW)
        .await
        .expect_err("refused");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{err}");
    err
}

fn is_refused(e: &DirectoryError) -> bool {
    matches!(e, DirectoryError::Refused(_))
}

#[tokio::test]
async fn redirect_is_refused_not_followed() {
    let err = refused_once(
        |n, _, host| match n {
            0 => response(
                "302 Found",
                &[("Location", format!("http://{host}/moved"))],
                b"",
                true,
            ),
            _ => signed(host, &jwks(&[&test_key()]), &[&test_key()], &[]),
        },
        limits(),
    )
    .await;
    assert!(is_refused(&err), "{err}");
}

#[tokio::test]
async fn server_error_is_cached_negatively() {
    let (base, hits) = serve(Duration::ZERO, |_, _, _| {
        response("500 Oops", &[], b"", true)
    })
    .await;
    let dirs = Directories::new(limits());
    let url = format!("{base}{WELL_KNOWN}");
    let first = dirs.key(&url, TEST_KEYID, NOW).await;
    assert!(
        matches!(first, Err(DirectoryError::Unreachable(_))),
        "{first:?}"
    );
    assert_eq!(dirs.key(&url, TEST_KEYID, NOW).await, first);
    assert_eq!((dirs.fetches(), hits.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let small = Limits {
        max_bytes: 64,
        ..limits()
    };
    let sized =
        |_: usize, _: &str, host: &str| signed(host, &jwks(&[&test_key()]), &[&test_key()], &[]);
    assert!(is_refused(&refused_once(sized, small.clone()).await));
    let unsized_body = |_: usize, _: &str, _: &str| {
        let headers = [("Content-Type", DIRECTORY_MEDIA_TYPE.to_owned())];
        response("200 OK", &headers, jwks(&[&test_key()]).as_bytes(), false)
    };
    assert!(is_refused(&refused_once(unsized_body, small).await));
}

#[tokio::test]
async fn too_many_keys_wrong_media_type_and_bad_json_are_refused() {
    let many = |_: usize, _: &str, host: &str| {
        let keys: Vec<SigningKey> = (1..=5).map(other_key).collect();
        let refs: Vec<&SigningKey> = keys.iter().collect();
        signed(host, &jwks(&refs), &refs, &[])
    };
    assert!(is_refused(
        &refused_once(
            many,
            Limits {
                max_bytes: 8192,
                ..limits()
            }
        )
        .await
    ));
    let json = |_: usize, _: &str, _: &str| {
        let headers = [("Content-Type", "application/json".to_owned())];
        response("200 OK", &headers, jwks(&[&test_key()]).as_bytes(), true)
    };
    assert!(is_refused(&refused_once(json, limits()).await));
    let garbage = |_: usize, _: &str, _: &str| {
        let headers = [("Content-Type", DIRECTORY_MEDIA_TYPE.to_owned())];
        response("200 OK", &headers, b"{\"keys\":[", true)
    };
    assert!(is_refused(&refused_once(garbage, limits()).await));
    let not_found = |_: usize, _: &str, _: &str| response("404 Not Found", &[], b"", true);
    assert!(is_refused(&refused_once(not_found, limits()).await));
}

fn unsigned(_: usize, _: &str, _: &str) -> Vec<u8> {
    let headers = [("Content-Type", DIRECTORY_MEDIA_TYPE.to_owned())];
    response("200 OK", &headers, jwks(&[&test_key()]).as_bytes(), true)
}

#[tokio::test]
async fn self_signature_is_required_when_configured() {
    assert!(is_refused(&refused_once(unsigned, limits()).await));
    // Signed by another key than the one listed: still no valid self-signature.
    let foreign =
        |_: usize, _: &str, host: &str| signed(host, &jwks(&[&test_key()]), &[&other_key(9)], &[]);
    assert!(is_refused(&refused_once(foreign, limits()).await));
    // A digest that does not match the body.
    let tampered = |_: usize, _: &str, host: &str| {
        let mut r = signed(host, &jwks(&[&test_key()]), &[&test_key()], &[]);
        let at = r.windows(5).position(|w| w == b"\"use\"").expect("use");
        r[at + 1] = b'U';
        r
    };
    assert!(is_refused(&refused_once(tampered, limits()).await));
    let (base, _) = serve(Duration::ZERO, unsigned).await;
    let dirs = Directories::new(Limits {
        require_self_signature: false,
        ..limits()
    });
    assert!(
        dirs.key(&format!("{base}{WELL_KNOWN}"), TEST_KEYID, NOW)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn private_addresses_and_http_are_refused_by_default() {
    let (base, hits) = good_server().await;
    let port = base.rsplit(':').next().expect("port").to_owned();
    let no_private = Directories::new(Limits {
        allow_private_ips: false,
        ..limits()
    });
    for url in [
        format!("{base}{WELL_KNOWN}"),
        format!("http://[::1]:{port}{WELL_KNOWN}"),
        format!("http://[::ffff:127.0.0.1]:{port}{WELL_KNOWN}"),
        format!("http://localhost:{port}{WELL_KNOWN}"),
    ] {
        let err = no_private
            .key(&url, TEST_KEYID, NOW)
            .await
            .expect_err("refused");
        assert!(is_refused(&err), "{url}: {err}");
    }
    let no_http = Directories::new(Limits {
        allow_http: false,
        ..limits()
    });
    let err = no_http
        .key(&format!("{base}{WELL_KNOWN}"), TEST_KEYID, NOW)
        .await
        .expect_err("refused");
    assert!(is_refused(&err), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

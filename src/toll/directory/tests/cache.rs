//! Positive, unknown-key, stale-if-error and coalesced lookups.

use super::*;

#[tokio::test]
async fn good_signed_directory_gives_its_keys() {
    let (base, hits) = good_server().await;
    let dirs = Directories::new(limits());
    let url = format!("{base}{WELL_KNOWN}");
    let key = dirs.key(&url, TEST_KEYID, NOW).await.expect("key");
    assert_eq!(key, test_key().verifying_key());
    let other = dirs
        .key(&url, &keyid(&other_key(7)), NOW)
        .await
        .expect("second key");
    assert_eq!(other, other_key(7).verifying_key());
    assert_eq!((dirs.fetches(), hits.load(Ordering::SeqCst)), (1, 1));
    // Another URL is another identity, even for the same keyid.
    let elsewhere = format!(
        "http://localhost:{}{WELL_KNOWN}",
        base.rsplit(':').next().expect("port")
    );
    assert_eq!(dirs.key(&elsewhere, TEST_KEYID, NOW).await, Ok(key));
    assert_eq!((dirs.fetches(), hits.load(Ordering::SeqCst)), (2, 2));
}

#[tokio::test]
async fn unknown_keyid_refetches_at_most_once_per_negative_ttl() {
    let (base, hits) = good_server().await;
    let url = format!("{base}{WELL_KNOWN}");
    let dirs = Directories::new(limits());
    assert_eq!(
        dirs.key(&url, "nope", NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(
        dirs.key(&url, "nope", NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(dirs.fetches(), 1);
    let dirs = Directories::new(Limits {
        negative_ttl: Duration::from_millis(300),
        ..limits()
    });
    assert_eq!(
        dirs.key(&url, "nope", NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        dirs.key(&url, "nope", NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(
        dirs.key(&url, "nope", NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(dirs.fetches(), 2);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn kid_mismatch_and_out_of_window_keys_are_skipped() {
    let (base, _) = serve(Duration::ZERO, |_, _, host| {
        let (a, b, c) = (test_key(), other_key(3), other_key(4));
        let wrong_kid = jwk(&a, "").replace(TEST_KEYID, "not-the-thumbprint");
        let expired = jwk(&b, &format!(r#","exp":{}"#, NOW - 1));
        let future = jwk(&c, &format!(r#","nbf":{},"exp":{}"#, NOW + 10, NOW + 20));
        let body = format!(r#"{{"keys":[{wrong_kid},{expired},{future}]}}"#);
        signed(host, &body, &[&a, &b, &c], &[])
    })
    .await;
    let url = format!("{base}{WELL_KNOWN}");
    let dirs = Directories::new(limits());
    assert_eq!(
        dirs.key(&url, TEST_KEYID, NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(
        dirs.key(&url, &keyid(&other_key(3)), NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(
        dirs.key(&url, &keyid(&other_key(3)), NOW - 5).await,
        Ok(other_key(3).verifying_key())
    );
    assert_eq!(
        dirs.key(&url, &keyid(&other_key(4)), NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert_eq!(
        dirs.key(&url, &keyid(&other_key(4)), NOW + 10).await,
        Ok(other_key(4).verifying_key())
    );
    assert_eq!(dirs.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_make_one_fetch() {
    let (base, hits) = serve(Duration::from_millis(100), |_, _, host| {
        signed(host, &jwks(&[&test_key()]), &[&test_key()], &[])
    })
    .await;
    let dirs = Arc::new(Directories::new(limits()));
    let url = format!("{base}{WELL_KNOWN}");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (dirs, url) = (dirs.clone(), url.clone());
        set.spawn(async move { dirs.key(&url, TEST_KEYID, NOW).await });
    }
    while let Some(result) = set.join_next().await {
        assert_eq!(result.expect("task"), Ok(test_key().verifying_key()));
    }
    assert_eq!((dirs.fetches(), hits.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn stale_keys_survive_a_failed_refresh_and_a_fresh_directory_evicts() {
    let short = Limits {
        default_ttl: Duration::from_millis(150),
        negative_ttl: Duration::from_millis(150),
        ..limits()
    };
    let (base, _) = serve(Duration::ZERO, |n, _, host| match n {
        0 => signed(host, &jwks(&[&test_key()]), &[&test_key()], &[]),
        1 => response("500 Down", &[], b"", true),
        _ => {
            let long = [("Cache-Control", "max-age=3600".to_owned())];
            signed(host, &jwks(&[&other_key(5)]), &[&other_key(5)], &long)
        }
    })
    .await;
    let url = format!("{base}{WELL_KNOWN}");
    let dirs = Directories::new(short);
    assert!(dirs.key(&url, TEST_KEYID, NOW).await.is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        dirs.key(&url, TEST_KEYID, NOW).await.is_ok(),
        "stale-if-error"
    );
    assert_eq!(dirs.fetches(), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        dirs.key(&url, TEST_KEYID, NOW).await,
        Err(DirectoryError::UnknownKey)
    );
    assert!(dirs.key(&url, &keyid(&other_key(5)), NOW).await.is_ok());
    assert_eq!(dirs.fetches(), 3);
}

//! The Management API calls and the token cache against the emulator: Auth0's answers mapped to
//! errors that say what to fix, and one token request for many concurrent callers.

use std::sync::Arc;

use auth0::{Auth0Error, ClientCredentials, Domain, SecretString, TokenCache};
use sqlx::PgPool;

use crate::support::*;

fn creds(client_id: &str, secret: &str) -> ClientCredentials {
    let domain = Domain::parse(DOMAIN).expect("domain");
    ClientCredentials {
        audience: domain.management_audience(),
        domain,
        client_id: client_id.into(),
        client_secret: SecretString::from(secret),
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn concurrent_callers_on_a_cold_cache_send_one_token_request(pool: PgPool) {
    let fx = Fixture::new(pool, 0).await;
    fx.emulator.admin().inject_fault(
        DOMAIN,
        auth0_emulator::Fault::latency(Some(TOKEN), std::time::Duration::from_millis(100)),
    );
    let cache = Arc::new(TokenCache::new());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cache = Arc::clone(&cache);
        let client = fx.auth0.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .token(&client, "conn-1", 1, None, &creds(CONN_CLIENT, CONN_SECRET))
                .await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("token");
    }
    assert_eq!(fx.counters().tokens_issued, 1);
    assert_eq!((cache.misses(), cache.hits()), (1, 19));
    // A new connection version (its credentials changed) gets its own token.
    cache
        .token(
            &fx.auth0,
            "conn-1",
            2,
            None,
            &creds(CONN_CLIENT, CONN_SECRET),
        )
        .await
        .expect("token");
    assert_eq!(fx.counters().tokens_issued, 2);
    assert_eq!(cache.len(), 1, "the old version's entry is gone");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn management_errors_say_what_to_fix(pool: PgPool) {
    let fx = Fixture::with_tenant(pool, 1, |t| {
        t.clients.push(auth0_emulator::ClientSeed::m2m(
            "readOnly",
            "read-only-secret",
        ));
        t.grants.push(auth0_emulator::GrantSeed {
            client_id: "readOnly".into(),
            audience: format!("https://{DOMAIN}/api/v2/"),
            scopes: vec!["read:clients".into()],
        });
    })
    .await;
    let domain = Domain::parse(DOMAIN).expect("domain");
    let full = fx
        .auth0
        .client_credentials_token(&creds(CONN_CLIENT, CONN_SECRET))
        .await
        .expect("token");
    let info = fx
        .auth0
        .get_client(&domain, &full.token, &target(0))
        .await
        .expect("client");
    assert_eq!(info.client_id, target(0));
    let missing = fx.auth0.get_client(&domain, &full.token, "nope").await;
    assert!(
        matches!(missing, Err(Auth0Error::ClientNotFound { client_id }) if client_id == "nope")
    );

    let read_only = fx
        .auth0
        .client_credentials_token(&creds("readOnly", "read-only-secret"))
        .await
        .expect("token");
    let secret = SecretString::from("a-new-secret-of-sufficient-length-0123456789abcdef");
    let refused = fx
        .auth0
        .patch_client_secret(&domain, &read_only.token, &target(0), &secret)
        .await;
    match refused {
        Err(err @ Auth0Error::MissingScope { .. }) => {
            assert!(err.reason().contains("update:client_keys"), "{err}");
        }
        other => panic!("expected MissingScope, got {other:?}"),
    }
    let bogus = SecretString::from("not-a-token");
    let rejected = fx.auth0.get_client(&domain, &bogus, &target(0)).await;
    assert!(matches!(rejected, Err(Auth0Error::TokenRejected)));

    fx.auth0
        .patch_client_secret(&domain, &full.token, &target(0), &secret)
        .await
        .expect("patched");
    assert_eq!(
        fx.auth0_secret(&target(0)),
        "a-new-secret-of-sufficient-length-0123456789abcdef"
    );
    fx.auth0
        .rotate_secret(&domain, &full.token, &target(0))
        .await
        .expect("rotated");
    assert_ne!(
        fx.auth0_secret(&target(0)),
        "a-new-secret-of-sufficient-length-0123456789abcdef"
    );

    // The API's pre-create check goes through the connection and its cached token.
    let access = fx.worker().broker().clone();
    let visible = access
        .get_client(&fx.connection, &target(0))
        .await
        .expect("visible");
    assert!(format!("{visible:?}").contains(&target(0)));
    let unknown = access.get_client(&fx.connection, "nope").await;
    assert!(matches!(
        unknown,
        Err(broker::Error::Auth0(Auth0Error::ClientNotFound { .. }))
    ));
}

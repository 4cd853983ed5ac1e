//! A stored secret is only ever sent to the tenant and client it was issued for (issue 14, the
//! security review's high finding). Each test re-points the connection at a host "the member
//! controls" — another emulator tenant whose client accepts exactly the secret that must not
//! leak, so any leak would show as a token it issued — and checks that host received nothing.

use std::sync::Arc;

use auth0_emulator::{ClientSeed, Fault, TenantSeed};
use broker::{Destination, aad};
use crypto::{ExposeSecret, SecretString};
use sqlx::PgPool;
use store::connections::{self, Change, Credentials, Sealed};
use store::rotations;
use worker::JobOutcome;

use crate::support::*;

const ELSEWHERE: &str = "attacker.auth0.test";
const MEMBERS_SECRET: &str = "the-members-own-secret-0123456789";

async fn pending_secret(fx: &Fixture, id: store::RotationId) -> String {
    let attempt = fx.get(id).await.current_attempt_id.expect("open attempt");
    let mut conn = fx.pool.acquire().await.expect("conn");
    let pending = rotations::pending_credential(&mut conn, attempt)
        .await
        .expect("query")
        .expect("pending");
    fx.open_credential(&pending)
}

/// A tenant on the emulator standing in for a host the member controls. Its `client_id`
/// accepts `leak`, so if Keyhold ever sent it there, the tenant would issue a token.
fn add_foreign_tenant(fx: &Fixture, client_id: &str, leak: &str) {
    let tenant = if client_id == CONN_CLIENT {
        TenantSeed::with_m2m(ELSEWHERE, CONN_CLIENT, leak, SCOPES)
    } else {
        let mut tenant = TenantSeed::with_m2m(ELSEWHERE, CONN_CLIENT, MEMBERS_SECRET, SCOPES);
        tenant.clients.push(ClientSeed::m2m(client_id, leak));
        tenant
    };
    fx.emulator.admin().add_tenant(tenant).expect("tenant");
}

/// What a member's credential change does at the store: the connection now names the foreign
/// tenant, with a secret of the member's own sealed for it. Done below the API, as the race the
/// API's 409 cannot see (a change committed just before an attempt resumes).
async fn re_point(fx: &Fixture, members_secret: &str) {
    let current = fx.reload_connection().await;
    let to = Destination {
        domain: ELSEWHERE,
        client_id: CONN_CLIENT,
    };
    let binding = aad::connection_secret(current.id, current.project_id, to);
    let sealed = Sealed(
        fx.keyring
            .seal_str(&SecretString::from(members_secret), &binding.aad())
            .expect("seal"),
    );
    let audience = format!("https://{ELSEWHERE}/api/v2/");
    let mut conn = fx.pool.acquire().await.expect("conn");
    connections::update(
        &mut conn,
        fx.org_id,
        current.id,
        current.version,
        &Change {
            credentials: Some(Credentials {
                domain: ELSEWHERE,
                client_id: CONN_CLIENT,
                audience: &audience,
                client_secret_sealed: &sealed,
            }),
            ..Change::default()
        },
    )
    .await
    .expect("re-point");
}

fn foreign_counters(fx: &Fixture) -> auth0_emulator::Counters {
    fx.emulator.admin().counters(ELSEWHERE).expect("tenant")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_resumed_attempt_never_tests_its_secret_against_a_re_pointed_tenant(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    // The first PATCH fails after Auth0 may have applied it: the attempt stays open with a
    // pending secret that may be live.
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::fail(Some(PATCH), 503, 1));
    let worker = fx.worker();
    let first = worker.process_one().await.expect("ok").expect("claimed");
    assert!(
        matches!(first.outcome, JobOutcome::Retrying { .. }),
        "{first:?}"
    );
    let pending = pending_secret(&fx, rotation.id).await;
    add_foreign_tenant(&fx, &client, &pending);
    re_point(&fx, MEMBERS_SECRET).await;

    let outcome = until_rotated(&worker, std::time::Duration::from_secs(10)).await;
    let JobOutcome::Failed { message } = outcome else {
        panic!("expected the attempt to fail, got {outcome:?}");
    };
    assert!(message.contains("changed during this attempt"), "{message}");
    let seen = foreign_counters(&fx);
    assert_eq!(
        seen.tokens_issued, 0,
        "the pending secret reached the foreign tenant"
    );
    assert!(
        seen.requests_by_endpoint.values().all(|n| *n == 0),
        "nothing at all goes to the foreign tenant for this attempt: {seen:?}"
    );
    // Kept for recovery, not thrown away.
    let abandoned = count(
        &fx.pool,
        "select count(*) from rotation_credentials where rotation_id = $1 and state = 'abandoned'",
        rotation.id,
    )
    .await;
    assert_eq!(abandoned, 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn management_tokens_never_try_pending_secrets_on_a_re_pointed_tenant(pool: PgPool) {
    let fx = Fixture::new(pool, 0).await;
    let rotation = fx.rotation("self", CONN_CLIENT).await;
    // Auth0 takes the new secret but the answer is lost: the connection keeps the old secret
    // and the live one is only the attempt's pending secret.
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::drop_after_apply(Some(PATCH), 1));
    let first = fx
        .worker()
        .process_one()
        .await
        .expect("ok")
        .expect("claimed");
    assert!(matches!(first.outcome, JobOutcome::Retrying { .. }));
    let live = pending_secret(&fx, rotation.id).await;
    assert_eq!(fx.auth0_secret(CONN_CLIENT), live);
    add_foreign_tenant(&fx, CONN_CLIENT, &live);
    re_point(&fx, MEMBERS_SECRET).await;

    let broker = fx.broker_with(&fx.config(), Arc::new(auth0::TokenCache::new()));
    let connection = fx.reload_connection().await;
    let refused = broker.management_token(&connection).await;
    assert!(
        matches!(
            refused,
            Err(broker::Error::Auth0(auth0::Auth0Error::WrongCredentials))
        ),
        "{refused:?}"
    );
    let seen = foreign_counters(&fx);
    assert_eq!(
        seen.tokens_issued, 0,
        "the live secret reached the foreign tenant"
    );
    assert_eq!(
        seen.requests_by_endpoint.get(TOKEN).copied(),
        Some(1),
        "only the member's own secret is tried there"
    );
    // And the resumed self-rotation does not finish into the re-pointed connection.
    let outcome = until_rotated(&fx.worker(), std::time::Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Failed { .. }), "{outcome:?}");
    assert_eq!(foreign_counters(&fx).tokens_issued, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_secret_opens_only_for_its_own_tenant_client_and_project(pool: PgPool) {
    let fx = Fixture::new(pool, 0).await;
    let connection = fx.reload_connection().await;
    let sealed = &connection
        .client_secret_sealed
        .as_ref()
        .expect("a client secret")
        .0;
    let opens = |domain: &str, client_id: &str, project| {
        let to = Destination { domain, client_id };
        let binding = aad::connection_secret(connection.id, project, to);
        fx.keyring.open_str(sealed, &binding.aad()).is_ok()
    };
    assert!(opens(DOMAIN, CONN_CLIENT, fx.project_id));
    assert!(!opens(ELSEWHERE, CONN_CLIENT, fx.project_id));
    assert!(!opens(DOMAIN, "anotherClient", fx.project_id));
    assert!(!opens(DOMAIN, CONN_CLIENT, store::ProjectId::new()));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn secrets_sealed_before_bindings_are_re_sealed_once(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    until_rotated(&fx.worker(), std::time::Duration::from_secs(10)).await;
    let generated = fx.current_secret(rotation.id).await.expect("current");
    // Put both rows back as an older release left them: sealed for their place only.
    let connection = fx.reload_connection().await;
    let legacy = aad::connection(&connection);
    let old = fx
        .keyring
        .seal_str(&SecretString::from(CONN_SECRET), &legacy.legacy_aad())
        .expect("seal");
    sqlx::query(
        "update app_connections set client_secret_sealed = $2, secret_bound = false where id = $1",
    )
    .bind(connection.id)
    .bind(&old)
    .execute(&fx.pool)
    .await
    .expect("legacy connection");
    let credential = rotations::generated_credentials(&fx.pool, rotation.id)
        .await
        .expect("credentials")
        .into_iter()
        .find(|c| c.state == "current")
        .expect("current");
    let to = Destination {
        domain: &credential.domain,
        client_id: &credential.client_id,
    };
    let binding = aad::generated_secret(credential.id, rotation.id, fx.project_id, to);
    let old = fx
        .keyring
        .seal_str(
            &SecretString::from(generated.clone()),
            &binding.legacy_aad(),
        )
        .expect("seal");
    sqlx::query("update rotation_credentials set client_secret_sealed = $2, secret_bound = false where id = $1")
        .bind(credential.id)
        .bind(&old)
        .execute(&fx.pool)
        .await
        .expect("legacy credential");

    let done = broker::reseal::legacy_secrets(&fx.pool, &fx.keyring)
        .await
        .expect("reseal");
    assert_eq!((done.connections, done.credentials), (1, 1));
    assert_eq!(fx.connection_secret().await, CONN_SECRET);
    assert_eq!(fx.current_secret(rotation.id).await, Some(generated));
    let again = broker::reseal::legacy_secrets(&fx.pool, &fx.keyring)
        .await
        .expect("reseal");
    assert_eq!((again.connections, again.credentials), (0, 0));
    // The old place-only binding no longer opens either secret.
    let connection = fx.reload_connection().await;
    assert!(
        fx.keyring
            .open_str(
                &connection
                    .client_secret_sealed
                    .as_ref()
                    .expect("a client secret")
                    .0,
                &legacy.legacy_aad()
            )
            .is_err()
    );
    assert!(
        fx.keyring
            .open_str(
                &connection
                    .client_secret_sealed
                    .as_ref()
                    .expect("a client secret")
                    .0,
                &aad::connection(&connection).aad()
            )
            .map(|s| s.expose_secret() == CONN_SECRET)
            .unwrap_or(false)
    );
}

//! `auth0-private-key-jwt` rotations in the store: the type and its overlap are enforced by
//! Postgres, and an attempt's key pair moves pending → registered → overlapping → current under
//! the lease, never held through the overlap.

use std::time::Duration;

use sqlx::PgPool;
use store::connections::Sealed;
use store::rotations::key_pairs::{self, KeySuccess, NewKeyAttempt, Registered};
use store::rotations::lease::{self, Failure};
use store::rotations::{self, AttemptStep, NewRotation, Rotation};
use store::{AttemptId, PrivateKeyId, RotationId};
use time::OffsetDateTime;

use crate::support::{DOMAIN, Fixture, target};

const KID: &str = "kid-0123456789abcdef";

async fn key_rotation(fx: &Fixture, name: &str, overlap: Option<i32>) -> store::Result<Rotation> {
    let new = NewRotation {
        id: RotationId::new(),
        kind: rotations::TYPE_AUTH0_PRIVATE_KEY_JWT,
        overlap_seconds: overlap,
        org_id: fx.org_id,
        project_id: fx.project_id,
        connection_id: fx.connection.id,
        name,
        description: None,
        client_id: &target(7),
        rotation_interval_days: 30,
        rotate_at_hours: 0,
        rotate_at_minutes: 0,
        is_auto_rotation_enabled: true,
        next_rotation_at: Some(OffsetDateTime::now_utc() + time::Duration::days(30)),
        rotate_immediately: true,
    };
    let mut conn = fx.pool.acquire().await.expect("conn");
    rotations::insert(&mut conn, &new).await
}

fn new_attempt<'a>(sealed: &'a Sealed, client_id: &'a str) -> NewKeyAttempt<'a> {
    NewKeyAttempt {
        attempt_id: AttemptId::new(),
        key_pair_id: PrivateKeyId::new(),
        private_key_sealed: sealed,
        kid: KID,
        alg: "RS256",
        public_key_pem: "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n",
        domain: DOMAIN,
        client_id,
        is_manual: false,
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_overlap_belongs_to_key_rotations_and_stays_in_range(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    for (name, overlap) in [
        ("none", None),
        ("short", Some(59)),
        ("long", Some(2_592_001)),
    ] {
        let refused = key_rotation(&fx, name, overlap).await;
        let Err(store::Error::Database(sqlx::Error::Database(db))) = &refused else {
            panic!("{name}: {refused:?}");
        };
        assert_eq!(
            db.constraint(),
            Some("secret_rotations_overlap_check"),
            "{name}"
        );
    }
    let ok = key_rotation(&fx, "ok", Some(60)).await.expect("60 s");
    assert_eq!(ok.kind, rotations::TYPE_AUTH0_PRIVATE_KEY_JWT);
    assert_eq!(ok.overlap_seconds, Some(60));
    assert!(ok.rotates_keys());
    let secret = fx.rotation("secret", &target(1)).await;
    assert_eq!(secret.overlap_seconds, None);
    assert!(!secret.rotates_keys());
    // A client-secret rotation cannot be given an overlap.
    let mut conn = fx.pool.acquire().await.expect("conn");
    let refused = rotations::update(
        &mut conn,
        fx.org_id,
        secret.id,
        secret.version,
        &rotations::Change {
            overlap_seconds: Some(600),
            ..rotations::Change::default()
        },
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_key_attempt_rests_through_the_overlap_without_a_lease(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let rotation = key_rotation(&fx, "keys", Some(60)).await.expect("rotation");
    let claims = lease::claim_due(&fx.pool, "worker-a", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    let lease_a = claims[0].lease();
    let sealed = Sealed(vec![1; 40]);
    let client = target(7);
    let new = new_attempt(&sealed, &client);
    let mut conn = fx.pool.acquire().await.expect("conn");
    let attempt = key_pairs::begin_attempt(&mut conn, &lease_a, &new)
        .await
        .expect("begin")
        .expect("attempt");
    assert_eq!(attempt.step, AttemptStep::Created);
    // One key per attempt: a second begin writes nothing.
    let again = new_attempt(&sealed, &client);
    assert!(
        key_pairs::begin_attempt(&mut conn, &lease_a, &again)
            .await
            .expect("begin")
            .is_none()
    );
    let pending = key_pairs::pending(&mut conn, attempt.id)
        .await
        .expect("pending")
        .expect("a pending key");
    assert_eq!(pending.id, new.key_pair_id);
    assert_eq!(pending.kid, KID);
    assert_eq!(pending.private_key_sealed.0, sealed.0);
    assert_eq!(pending.auth0_credential_id, None);
    // The sealed column is one `keyhold keys` walks.
    assert!(
        store::keyring::SEALED_COLUMNS
            .iter()
            .any(|c| c.table == "rotation_key_pairs" && c.aad_field == "private_key")
    );

    let registered = Registered {
        attempt_id: attempt.id,
        auth0_credential_id: "cred_new",
        replaces_credential_id: Some("cred_old"),
        expires_at: Some(OffsetDateTime::now_utc() + time::Duration::days(31)),
    };
    assert!(
        key_pairs::record_registered(&mut conn, &lease_a, &registered)
            .await
            .expect("registered")
    );
    let stored = rotations::get_attempt(&mut conn, attempt.id)
        .await
        .expect("attempt");
    assert_eq!(stored.step, AttemptStep::Set);

    let until = OffsetDateTime::now_utc() + time::Duration::seconds(60);
    assert!(
        key_pairs::start_overlap(&mut conn, &lease_a, attempt.id, until)
            .await
            .expect("overlap")
    );
    let resting = fx.get(rotation.id).await;
    assert_eq!(
        resting.lease_owner, None,
        "no lease is held through the overlap"
    );
    assert_eq!(resting.current_attempt_id, Some(attempt.id));
    assert!(resting.is_in_progress(OffsetDateTime::now_utc()));
    let due = resting.due_at.expect("due at the end of the overlap");
    assert!((due - until).abs() < time::Duration::milliseconds(1));
    let stored = rotations::get_attempt(&mut conn, attempt.id)
        .await
        .expect("attempt");
    assert_eq!(stored.step, AttemptStep::Published);
    // The old lease can write nothing more.
    assert!(
        !key_pairs::start_overlap(&mut conn, &lease_a, attempt.id, until)
            .await
            .expect("fenced")
    );
    // Not claimable before the overlap ends; claimable once it has.
    assert!(
        lease::claim_due(&fx.pool, "worker-b", Duration::from_secs(30), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    sqlx::query("update secret_rotations set due_at = now() - interval '1 second' where id = $1")
        .bind(rotation.id)
        .execute(&fx.pool)
        .await
        .expect("end the overlap");
    let claims = lease::claim_due(&fx.pool, "worker-b", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    let lease_b = claims[0].lease();
    let key = key_pairs::pending(&mut conn, attempt.id)
        .await
        .expect("pending")
        .expect("still pending");
    assert_eq!(key.auth0_credential_id.as_deref(), Some("cred_new"));
    assert_eq!(key.replaces_credential_id.as_deref(), Some("cred_old"));
    assert!(key.overlap_until.is_some());

    let done = KeySuccess {
        attempt_id: attempt.id,
        is_manual: false,
        next_rotation_at: Some(OffsetDateTime::now_utc() + time::Duration::days(30)),
    };
    assert!(
        !key_pairs::finish_success(&mut conn, &lease_a, &done)
            .await
            .expect("fenced")
    );
    assert!(
        key_pairs::finish_success(&mut conn, &lease_b, &done)
            .await
            .expect("finish")
    );
    let finished = fx.get(rotation.id).await;
    assert_eq!(finished.status, "success");
    assert_eq!(finished.current_attempt_id, None);
    let current = key_pairs::current(&fx.pool, rotation.id)
        .await
        .expect("current")
        .expect("a current key");
    assert_eq!(current.id, new.key_pair_id);
    assert!(current.activated_at.is_some());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn key_pairs_belong_to_key_rotations_and_a_failure_keeps_what_auth0_may_hold(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let secret = fx.rotation("secret", &target(1)).await;
    let keys = key_rotation(&fx, "keys", Some(600))
        .await
        .expect("rotation");
    let claims = lease::claim_due(&fx.pool, "worker-a", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 2);
    let sealed = Sealed(vec![2; 40]);
    let mut conn = fx.pool.acquire().await.expect("conn");
    for claim in &claims {
        let lease = claim.lease();
        let client = claim.rotation.client_id.clone();
        let begun = key_pairs::begin_attempt(&mut conn, &lease, &new_attempt(&sealed, &client))
            .await
            .expect("begin");
        if claim.rotation.id == secret.id {
            assert!(begun.is_none(), "a client-secret rotation gets no key pair");
            continue;
        }
        assert_eq!(claim.rotation.id, keys.id);
        let attempt = begun.expect("attempt");
        let failure = Failure {
            attempt_id: attempt.id,
            step: AttemptStep::Set,
            message: "the client already has two enabled credentials",
            next_rotation_at: None,
            keep_pending: true,
        };
        assert!(
            lease::finish_failure(&mut conn, &lease, &failure)
                .await
                .expect("fail")
        );
        let state: String =
            sqlx::query_scalar("select state from rotation_key_pairs where attempt_id = $1")
                .bind(attempt.id)
                .fetch_one(&fx.pool)
                .await
                .expect("key row");
        assert_eq!(state, "abandoned");
    }
}

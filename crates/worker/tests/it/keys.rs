//! `auth0-private-key-jwt` rotations (issue 18) against the emulator: the new key is enabled beside
//! the one in use, published to the mapped secrets, and the old credential is removed only after
//! the overlap — so both keys work throughout. Resuming after a lost answer or a killed worker
//! never makes a third credential; a foreign second credential is refused, never removed; the
//! private key is never stored or queued unsealed.

use std::time::Duration;

use auth0::{
    AssertionCredentials, Auth0Error, ClientAssertion, ClientCredentials, Domain, GeneratedKey,
    NewCredential, SigningAlg,
};
use auth0_emulator::Fault;
use crypto::{ExposeSecret, SecretString};
use sqlx::PgPool;
use store::FolderId;
use store::rotations::mapping::{self, NewMapping, ROLE_CLIENT_ID, ROLE_KEY_ID, ROLE_PRIVATE_KEY};
use store::rotations::{self, Rotation};
use time::OffsetDateTime;
use worker::{JobOutcome, Worker, WorkerConfig};

use crate::support::*;

const KEY_SCOPES: &[&str] = &[
    "read:clients",
    "update:clients",
    "read:client_credentials",
    "create:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
];
const CREATE: &str = "POST /api/v2/clients/{id}/credentials";
const ENABLE: &str = "PATCH /api/v2/clients/{id}";
const ID_KEY: &str = "APP_AUTH0_CLIENT_ID";
pub(crate) const PEM_KEY: &str = "APP_AUTH0_PRIVATE_KEY";
pub(crate) const KID_KEY: &str = "APP_AUTH0_KEY_ID";

/// A tenant whose connection may manage the target's credentials.
pub(crate) async fn key_fixture(pool: PgPool) -> Fixture {
    Fixture::with_tenant(pool, 1, |t| {
        t.grants[0].scopes = KEY_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    })
    .await
}

fn domain() -> Domain {
    Domain::parse(DOMAIN).expect("domain")
}

impl Fixture {
    async fn mgmt_token(&self) -> SecretString {
        let creds = ClientCredentials {
            domain: domain(),
            client_id: CONN_CLIENT.to_owned(),
            client_secret: SecretString::from(CONN_SECRET),
            audience: domain().management_audience(),
        };
        self.auth0
            .client_credentials_token(&creds)
            .await
            .expect("token")
            .token
    }

    /// A key registered and enabled by hand (the application's owner, before Keyhold rotates),
    /// enabled beside the credentials in `also_enabled`.
    pub(crate) async fn hand_key(
        &self,
        client: &str,
        also_enabled: &[&str],
    ) -> (GeneratedKey, String) {
        let key = auth0::generate_key(SigningAlg::RS256).expect("key");
        let token = self.mgmt_token().await;
        let created = self
            .auth0
            .create_credential(
                &domain(),
                &token,
                client,
                &NewCredential {
                    name: "by-hand".into(),
                    public_key_pem: key.public_key_pem.clone(),
                    alg: SigningAlg::RS256,
                    kid: Some(key.kid.clone()),
                    expires_at: None,
                },
            )
            .await
            .expect("create");
        let mut ids: Vec<&str> = also_enabled.to_vec();
        ids.push(&created.id);
        self.auth0
            .enable_private_key_jwt(&domain(), &token, client, &ids)
            .await
            .expect("enable");
        (key, created.id)
    }

    /// A key rotation of `client` with the shortest overlap, due at once.
    pub(crate) async fn key_rotation(&self, name: &str, client: &str) -> Rotation {
        self.rotation_with(name, client, |new| {
            new.kind = rotations::TYPE_AUTH0_PRIVATE_KEY_JWT;
            new.overlap_seconds = Some(rotations::MIN_OVERLAP_SECONDS);
        })
        .await
    }

    /// Maps the rotation's client id, private key and key id into `prod` at `/`.
    pub(crate) async fn map_keys(&self, rotation: &Rotation) -> FolderId {
        let prod = store::environments::by_slug(&self.pool, self.project_id, "prod")
            .await
            .expect("prod");
        let mut conn = self.pool.acquire().await.expect("conn");
        let root = store::folders::by_path(&mut conn, prod.id, "/")
            .await
            .expect("root");
        mapping::replace(
            &mut conn,
            rotation.id,
            Some(&NewMapping {
                environment_id: prod.id,
                folder_id: root.id,
                names: &[
                    (ROLE_CLIENT_ID, ID_KEY),
                    (ROLE_PRIVATE_KEY, PEM_KEY),
                    (ROLE_KEY_ID, KID_KEY),
                ],
            }),
        )
        .await
        .expect("mapping");
        root.id
    }

    /// A mapped secret's current value, opened as an app reading it would get it.
    async fn mapped(&self, folder: FolderId, key: &str) -> String {
        crate::zero_downtime::read_mapped(&self.pool, &self.keyring, folder, key)
            .await
            .expect("mapped secret written")
    }

    /// Whether Auth0 authenticates `client` by an assertion signed with this key (a refusal for
    /// the missing Management API grant comes after authentication, so it counts).
    async fn key_works(&self, client: &str, pem: &str, kid: &str) -> bool {
        let creds = AssertionCredentials {
            domain: domain(),
            client_id: client.to_owned(),
            assertion: ClientAssertion::new(SecretString::from(pem), kid, SigningAlg::RS256)
                .expect("assertion"),
            audience: domain().management_audience(),
        };
        match self.auth0.client_assertion_token(&creds).await {
            Ok(_) | Err(Auth0Error::NoGrantForAudience { .. }) => true,
            Err(Auth0Error::AssertionRejected { .. }) => false,
            Err(other) => panic!("unexpected answer: {other:?}"),
        }
    }

    /// (kid, enabled) of every credential the client has in Auth0, sorted.
    pub(crate) fn credentials(&self, client: &str) -> Vec<(String, bool)> {
        let mut all: Vec<(String, bool)> = self
            .emulator
            .admin()
            .client_credentials(DOMAIN, client)
            .expect("client")
            .into_iter()
            .map(|c| (c.kid, c.enabled))
            .collect();
        all.sort();
        all
    }

    fn named_worker(&self, id: &str) -> Worker {
        let config = WorkerConfig {
            worker_id: id.to_owned(),
            ..self.config()
        };
        self.worker_with(config, std::sync::Arc::new(auth0::TokenCache::new()))
    }

    /// A webhook endpoint of the project that hears every event (its secret is placeholder
    /// bytes: nothing is delivered in these tests, events are read from the outbox).
    async fn webhook_endpoint(&self) {
        let mut conn = self.pool.acquire().await.expect("conn");
        store::webhooks::insert(
            &mut conn,
            &store::webhooks::NewEndpoint {
                id: uuid::Uuid::now_v7(),
                org_id: self.org_id,
                project_id: self.project_id,
                url: "https://hooks.example.com/keyhold",
                description: None,
                event_types: &["*".to_owned()],
                enabled: true,
                secret_id: uuid::Uuid::now_v7(),
                secret_sealed: &store::connections::Sealed(vec![0; 16]),
            },
        )
        .await
        .expect("endpoint");
    }

    /// Ends the overlap now and runs a worker: the old credential goes and the rotation succeeds.
    pub(crate) async fn finish_overlap(&self, rotation: &Rotation) {
        self.end_overlap(rotation).await;
        let outcome = until_rests(&self.worker()).await;
        assert!(matches!(outcome, JobOutcome::Rotated { .. }), "{outcome:?}");
    }

    /// How many attempts the rotation has had.
    pub(crate) async fn attempts(&self, rotation: &Rotation) -> i64 {
        count(
            &self.pool,
            "select count(*) from rotation_attempts where rotation_id = $1",
            rotation.id,
        )
        .await
    }

    /// Ends the overlap now, as if its time had passed.
    pub(crate) async fn end_overlap(&self, rotation: &Rotation) {
        sqlx::query(
            "update rotation_key_pairs set overlap_until = now() - interval '1 second' \
             where rotation_id = $1 and state = 'pending'",
        )
        .bind(rotation.id)
        .execute(&self.pool)
        .await
        .expect("overlap");
        sqlx::query("update secret_rotations set due_at = now() where id = $1")
            .bind(rotation.id)
            .execute(&self.pool)
            .await
            .expect("due");
    }
}

/// Every row of every table as text (bytea as hex): where private key material must not be.
async fn database_text(pool: &PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables \
         where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let mut text = String::new();
    for table in tables {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select string_agg(t::text, E'\\n') from \"{table}\" t"
        )))
        .fetch_one(pool)
        .await
        .expect("rows");
        text.push_str(&rows.unwrap_or_default());
        text.push('\n');
    }
    text
}

/// The base64 body lines of a PEM (long enough to be unmistakable), as text and as hex.
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .flat_map(|l| {
            let hex: String = l.bytes().map(|b| format!("{b:02x}")).collect();
            [l.to_owned(), hex]
        })
        .collect()
}

/// Runs `process_one` through retries until the job rests or ends.
async fn until_rests(worker: &Worker) -> JobOutcome {
    let started = std::time::Instant::now();
    loop {
        if let Some(report) = worker.process_one().await.expect("process_one") {
            match report.outcome {
                JobOutcome::Retrying { .. } | JobOutcome::LeaseLost => {}
                other => return other,
            }
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no resting point"
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn both_keys_work_through_the_overlap_then_the_old_one_is_removed(pool: PgPool) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    let (old, old_id) = fx.hand_key(&client, &[]).await;
    let old_pem = old.private_key_pem.expose_secret().to_owned();
    let rotation = fx.key_rotation("keys", &client).await;
    let folder = fx.map_keys(&rotation).await;
    fx.webhook_endpoint().await;
    let worker = fx.worker();

    let before = OffsetDateTime::now_utc();
    let report = worker.process_one().await.expect("ok").expect("claimed");
    let JobOutcome::Overlapping { attempt_no, until } = report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert_eq!(attempt_no, 1);
    let overlap = until - before;
    assert!(
        overlap >= time::Duration::seconds(59) && overlap <= time::Duration::seconds(65),
        "{overlap}"
    );
    // Auth0 has both keys enabled; the apps read the new one from the mapped secrets.
    let pem = fx.mapped(folder, PEM_KEY).await;
    let kid = fx.mapped(folder, KID_KEY).await;
    assert!(pem.contains("BEGIN PRIVATE KEY"));
    assert_eq!(fx.mapped(folder, ID_KEY).await, client);
    let mut expected = vec![(old.kid.clone(), true), (kid.clone(), true)];
    expected.sort();
    assert_eq!(fx.credentials(&client), expected);
    let new_expiry = fx
        .emulator
        .admin()
        .client_credentials(DOMAIN, &client)
        .expect("client")
        .into_iter()
        .find(|c| c.kid == kid)
        .and_then(|c| c.expires_at)
        .expect("the new credential expires on its own");
    let expiry = OffsetDateTime::parse(&new_expiry, &time::format_description::well_known::Rfc3339)
        .expect("expiry");
    assert!(
        expiry > OffsetDateTime::now_utc() + time::Duration::days(29),
        "next rotation + overlap: {new_expiry}"
    );
    assert!(fx.key_works(&client, &pem, &kid).await, "the new key works");
    assert!(
        fx.key_works(&client, &old_pem, &old.kid).await,
        "the old key still works"
    );
    // The attempt rests: no lease, due when the overlap ends, and not claimable before.
    let row = fx.get(rotation.id).await;
    assert!(row.lease_owner.is_none());
    let attempt_id = row.current_attempt_id.expect("attempt still open");
    let due = row.due_at.expect("due");
    assert!((due - until).abs() < time::Duration::milliseconds(1));
    let mut conn = fx.pool.acquire().await.expect("conn");
    let attempt = rotations::get_attempt(&mut conn, attempt_id)
        .await
        .expect("attempt");
    assert_eq!(attempt.step, rotations::AttemptStep::Published);
    assert!(worker.process_one().await.expect("ok").is_none());
    // Apps are told which secrets to read again, never their values.
    let events: Vec<serde_json::Value> = sqlx::query_scalar(
        "select payload from webhook_events where type = 'secret-rotation.succeeded'",
    )
    .fetch_all(&fx.pool)
    .await
    .expect("events");
    assert_eq!(events.len(), 1);
    let event = events[0].to_string();
    assert!(
        event.contains(PEM_KEY) && event.contains(KID_KEY),
        "{event}"
    );
    assert!(
        event.contains("privateKey") && event.contains(&kid),
        "{event}"
    );

    // The overlap ends: the old credential is disabled and deleted, the new one stays alone.
    fx.end_overlap(&rotation).await;
    let report = worker.process_one().await.expect("ok").expect("claimed");
    assert!(
        matches!(report.outcome, JobOutcome::Rotated { attempt_no: 1, .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(fx.credentials(&client), vec![(kid.clone(), true)]);
    assert!(fx.key_works(&client, &pem, &kid).await);
    assert!(
        !fx.key_works(&client, &old_pem, &old.kid).await,
        "the old key is gone"
    );
    let row = fx.get(rotation.id).await;
    assert_eq!(row.status, "success");
    assert!(row.current_attempt_id.is_none() && row.lease_owner.is_none());
    let current = rotations::key_pairs::current(&fx.pool, rotation.id)
        .await
        .expect("current")
        .expect("a current key");
    assert_eq!(current.kid, kid);
    assert_eq!(
        current.replaces_credential_id.as_deref(),
        Some(old_id.as_str())
    );
    assert!(worker.process_one().await.expect("ok").is_none());

    // No private key material anywhere in the database unsealed, as text or as bytes.
    let dump = database_text(&fx.pool).await;
    for line in key_lines(&pem).iter().chain(key_lines(&old_pem).iter()) {
        assert!(
            !dump.contains(line.as_str()),
            "private key material in the database"
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_second_rotation_replaces_the_key_the_first_one_made(pool: PgPool) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    let rotation = fx.key_rotation("keys", &client).await;
    let folder = fx.map_keys(&rotation).await;
    let worker = fx.worker();
    // The first rotation of an application without a key: nothing to remove after the overlap.
    assert!(matches!(
        worker
            .process_one()
            .await
            .expect("ok")
            .expect("claimed")
            .outcome,
        JobOutcome::Overlapping { .. }
    ));
    let first = fx.mapped(folder, KID_KEY).await;
    assert_eq!(fx.credentials(&client), vec![(first.clone(), true)]);
    fx.end_overlap(&rotation).await;
    assert!(matches!(
        worker
            .process_one()
            .await
            .expect("ok")
            .expect("claimed")
            .outcome,
        JobOutcome::Rotated { attempt_no: 1, .. }
    ));
    // Rotate again: the first key is the one replaced.
    let mut tx = fx.pool.begin().await.expect("tx");
    rotations::control::rotate_now(&mut tx, fx.org_id, rotation.id)
        .await
        .expect("queued");
    tx.commit().await.expect("commit");
    assert!(matches!(
        worker
            .process_one()
            .await
            .expect("ok")
            .expect("claimed")
            .outcome,
        JobOutcome::Overlapping { attempt_no: 2, .. }
    ));
    let second = fx.mapped(folder, KID_KEY).await;
    assert_ne!(first, second);
    assert_eq!(fx.credentials(&client).len(), 2);
    fx.end_overlap(&rotation).await;
    assert!(matches!(
        worker
            .process_one()
            .await
            .expect("ok")
            .expect("claimed")
            .outcome,
        JobOutcome::Rotated { attempt_no: 2, .. }
    ));
    assert_eq!(fx.credentials(&client), vec![(second, true)]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_foreign_second_credential_is_refused_not_removed(pool: PgPool) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    let (_, first) = fx.hand_key(&client, &[]).await;
    fx.hand_key(&client, &[&first]).await;
    let before = fx.credentials(&client);
    assert_eq!(before.len(), 2);
    let rotation = fx.key_rotation("keys", &client).await;
    fx.map_keys(&rotation).await;
    let report = fx
        .worker()
        .process_one()
        .await
        .expect("ok")
        .expect("claimed");
    let JobOutcome::Failed { message } = report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(
        message.contains("two Private Key JWT credentials enabled"),
        "{message}"
    );
    assert!(message.contains("disable one in Auth0"), "{message}");
    // Nothing added, nothing removed, nothing published; the unused key is not kept.
    assert_eq!(fx.credentials(&client), before);
    let row = fx.get(rotation.id).await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.last_rotation_message.as_deref(), Some(message.as_str()));
    assert!(row.current_attempt_id.is_none());
    assert_eq!(
        count(
            &fx.pool,
            "select count(*) from rotation_key_pairs where rotation_id = $1",
            rotation.id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &fx.pool,
            "select count(*) from secrets s join rotation_secrets m on m.folder_id = s.folder_id \
             and m.key = s.key where m.rotation_id = $1",
            rotation.id
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_lost_answer_at_any_auth0_step_never_makes_a_third_credential(pool: PgPool) {
    let fx = key_fixture(pool).await;
    for (i, endpoint) in [CREATE, ENABLE].into_iter().enumerate() {
        let client = target(0);
        if i == 0 {
            fx.hand_key(&client, &[]).await;
        }
        let rotation = fx.key_rotation(&format!("keys-{i}"), &client).await;
        let folder = fx.map_keys(&rotation).await;
        // Auth0 applies the call, then the answer is lost: the worker cannot know it worked.
        fx.emulator
            .admin()
            .inject_fault(DOMAIN, Fault::drop_after_apply(Some(endpoint), 1));
        let report = fx
            .named_worker("first")
            .process_one()
            .await
            .expect("ok")
            .expect("claimed");
        assert!(
            matches!(report.outcome, JobOutcome::Retrying { .. }),
            "{endpoint}: {:?}",
            report.outcome
        );
        assert_eq!(fx.credentials(&client).len(), 2, "{endpoint}");
        // Another worker resumes the same attempt with the same key.
        let outcome = until_rests(&fx.named_worker("second")).await;
        assert!(
            matches!(outcome, JobOutcome::Overlapping { .. }),
            "{endpoint}: {outcome:?}"
        );
        let kid = fx.mapped(folder, KID_KEY).await;
        let credentials = fx.credentials(&client);
        assert_eq!(credentials.len(), 2, "{endpoint}: {credentials:?}");
        assert!(credentials.iter().all(|(_, enabled)| *enabled));
        assert!(credentials.iter().any(|(k, _)| *k == kid));
        assert_eq!(fx.attempts(&rotation).await, 1, "one attempt, resumed");
        fx.finish_overlap(&rotation).await;
        assert_eq!(fx.credentials(&client), vec![(kid, true)], "{endpoint}");
        // The next round's rotation is another definition of the same client: retire this one.
        sqlx::query("delete from secret_rotations where id = $1")
            .bind(rotation.id)
            .execute(&fx.pool)
            .await
            .expect("delete");
    }
}

/// Runs a child worker process that hangs in enabling the rotation's new key (after it
/// registered and recorded it), kills it there with SIGKILL, and lifts the hang.
async fn kill_a_worker_after_it_registered_the_key(fx: &Fixture, rotation: &Rotation) {
    fx.emulator.admin().inject_fault(
        DOMAIN,
        Fault::latency(Some(ENABLE), Duration::from_secs(30)),
    );
    let child = crate::crash::spawn_worker(fx, &[]).await;
    eventually(
        Duration::from_secs(20),
        "the new credential recorded",
        || async {
            count(
                &fx.pool,
                "select count(*) from rotation_key_pairs where rotation_id = $1 \
             and auth0_credential_id is not null",
                rotation.id,
            )
            .await
                == 1
        },
    )
    .await;
    crate::crash::sigkill(child).await;
    crate::crash::children_gone(fx).await;
    fx.emulator.admin().clear_faults(DOMAIN);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_worker_killed_after_registering_the_key_is_resumed_without_a_third_credential(
    pool: PgPool,
) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    fx.hand_key(&client, &[]).await;
    let rotation = fx.key_rotation("keys", &client).await;
    let folder = fx.map_keys(&rotation).await;
    kill_a_worker_after_it_registered_the_key(&fx, &rotation).await;
    assert_eq!(fx.credentials(&client).len(), 2);
    // Once the dead worker's lease expires, another takes the attempt over.
    let outcome = until_rests(&fx.worker()).await;
    assert!(
        matches!(outcome, JobOutcome::Overlapping { .. }),
        "{outcome:?}"
    );
    let kid = fx.mapped(folder, KID_KEY).await;
    let credentials = fx.credentials(&client);
    assert_eq!(credentials.len(), 2, "{credentials:?}");
    assert!(credentials.contains(&(kid, true)));
    assert!(credentials.iter().all(|(_, enabled)| *enabled));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_removal_that_failed_for_good_is_completed_by_the_next_rotation(pool: PgPool) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    let (old, _) = fx.hand_key(&client, &[]).await;
    let rotation = fx.key_rotation("keys", &client).await;
    let folder = fx.map_keys(&rotation).await;
    let worker = fx.worker();
    assert!(matches!(
        until_rests(&worker).await,
        JobOutcome::Overlapping { attempt_no: 1, .. }
    ));
    let published = fx.mapped(folder, KID_KEY).await;
    // After the overlap Auth0 refuses to change the enabled credentials (the connection lost
    // update:clients, say): the attempt fails for good with both keys still enabled.
    fx.end_overlap(&rotation).await;
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::fail(Some(ENABLE), 403, 100));
    let JobOutcome::Failed { message } = until_rests(&worker).await else {
        panic!("the removal should fail for good");
    };
    assert!(
        message.contains("removing the old key credential"),
        "{message}"
    );
    fx.emulator.admin().clear_faults(DOMAIN);
    let mut both = vec![(old.kid.clone(), true), (published.clone(), true)];
    both.sort();
    assert_eq!(fx.credentials(&client), both);

    // The next rotation removes the old credential first, then adds its key beside the one the
    // apps hold; nothing is refused for lack of room.
    let mut tx = fx.pool.begin().await.expect("tx");
    rotations::control::rotate_now(&mut tx, fx.org_id, rotation.id)
        .await
        .expect("queued");
    tx.commit().await.expect("commit");
    assert!(matches!(
        until_rests(&worker).await,
        JobOutcome::Overlapping { attempt_no: 2, .. }
    ));
    let newest = fx.mapped(folder, KID_KEY).await;
    let mut expected = vec![(published, true), (newest.clone(), true)];
    expected.sort();
    assert_eq!(
        fx.credentials(&client),
        expected,
        "the old credential is gone"
    );
    fx.end_overlap(&rotation).await;
    assert!(matches!(
        until_rests(&worker).await,
        JobOutcome::Rotated { attempt_no: 2, .. }
    ));
    assert_eq!(fx.credentials(&client), vec![(newest, true)]);
}

/// A tenant whose connection may manage credentials, and whose first target application may
/// manage its own (the application of a private-key-jwt connection that renews its key).
async fn own_key_fixture(pool: PgPool) -> Fixture {
    Fixture::with_tenant(pool, 1, |t| {
        let scopes: Vec<String> = KEY_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        t.grants[0].scopes = scopes.clone();
        t.grants.push(auth0_emulator::GrantSeed {
            client_id: target(0),
            audience: t.management_audience(),
            scopes,
        });
    })
    .await
}

impl Fixture {
    /// A private-key-jwt connection to `client` holding a key registered and enabled in Auth0
    /// (as `registerWith` leaves one), sealed like the API seals it. Returns it and its `kid`.
    async fn key_connection(&self, client: &str) -> (store::connections::Connection, String) {
        let (key, _) = self.hand_key(client, &[]).await;
        let id = store::ConnectionId::new();
        let audience = domain().management_audience();
        let row = store::PrivateKeyId::new();
        let broker = self.broker_with(&self.config(), std::sync::Arc::clone(&self.tokens));
        let sealed = broker
            .seal_connection_private_key(
                row,
                id,
                self.project_id,
                broker::Destination {
                    domain: DOMAIN,
                    client_id: client,
                },
                &key.private_key_pem,
            )
            .expect("seal");
        let mut tx = self.pool.begin().await.expect("tx");
        store::connections::insert_with_key(
            &mut tx,
            &store::connections::NewKeyConnection {
                id,
                org_id: self.org_id,
                project_id: self.project_id,
                name: "own-key",
                description: None,
                domain: DOMAIN,
                client_id: client,
                audience: &audience,
                public_key: store::connections::PublicKey {
                    kid: &key.kid,
                    alg: "RS256",
                    pem: &key.public_key_pem,
                    jwk: &key.jwk,
                },
            },
        )
        .await
        .expect("connection");
        store::connection_keys::insert(
            &mut tx,
            &store::connection_keys::PrivateKey {
                id: row,
                connection_id: id,
                private_key_sealed: sealed,
            },
        )
        .await
        .expect("key");
        store::connections::mark_key_registered(&mut tx, self.org_id, id)
            .await
            .expect("registered");
        tx.commit().await.expect("commit");
        let connection = store::connections::get(&self.pool, self.org_id, id)
            .await
            .expect("connection");
        (connection, key.kid)
    }
}

/// The connection as stored now, and whether the broker gets a Management token with the key it
/// holds (a fresh cache, so the token is requested with that key).
async fn connection_works(
    fx: &Fixture,
    id: store::ConnectionId,
) -> (store::connections::Connection, bool) {
    let connection = store::connections::get(&fx.pool, fx.org_id, id)
        .await
        .expect("connection");
    let broker = fx.broker_with(&fx.config(), std::sync::Arc::new(auth0::TokenCache::new()));
    let works = broker.management_token(&connection).await.is_ok();
    (connection, works)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_connection_renewing_its_own_key_survives_a_killed_worker(pool: PgPool) {
    let fx = own_key_fixture(pool).await;
    let client = target(0);
    let (connection, old_kid) = fx.key_connection(&client).await;
    let rotation = fx
        .rotation_with("own-key", &client, |new| {
            new.kind = rotations::TYPE_AUTH0_PRIVATE_KEY_JWT;
            new.overlap_seconds = Some(rotations::MIN_OVERLAP_SECONDS);
            new.connection_id = connection.id;
        })
        .await;
    // Killed after registering the new key: the connection still signs with its old key, which
    // still works.
    kill_a_worker_after_it_registered_the_key(&fx, &rotation).await;
    let (held, works) = connection_works(&fx, connection.id).await;
    assert_eq!(held.key.key_kid.as_deref(), Some(old_kid.as_str()));
    assert!(works, "the old key still gets tokens");

    // Another worker takes the attempt over: the new key is enabled beside the old one, proven,
    // and the connection switches to it; both keys work during the overlap.
    let outcome = until_rests(&fx.worker()).await;
    assert!(
        matches!(outcome, JobOutcome::Overlapping { .. }),
        "{outcome:?}"
    );
    let (renewed, works) = connection_works(&fx, connection.id).await;
    let new_kid = renewed.key.key_kid.clone().expect("kid");
    assert_ne!(new_kid, old_kid);
    assert!(renewed.version > connection.version);
    assert!(works, "the connection gets tokens with its new key");
    let mut both = vec![(old_kid.clone(), true), (new_kid.clone(), true)];
    both.sort();
    assert_eq!(fx.credentials(&client), both, "never a third credential");
    assert_eq!(fx.attempts(&rotation).await, 1, "one attempt, resumed");

    // After the overlap only the new key is left, and the connection still works with it.
    fx.finish_overlap(&rotation).await;
    assert_eq!(fx.credentials(&client), vec![(new_kid, true)]);
    let (_, works) = connection_works(&fx, connection.id).await;
    assert!(
        works,
        "the connection gets tokens after the old key is gone"
    );
    // Its private keys are nowhere unsealed.
    let dump = database_text(&fx.pool).await;
    assert!(
        !dump.contains("PRIVATE KEY"),
        "a private key stored unsealed"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_key_registered_by_an_attempt_that_failed_before_publishing_is_removed_by_the_next(
    pool: PgPool,
) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    let (old, _) = fx.hand_key(&client, &[]).await;
    let rotation = fx.key_rotation("keys", &client).await;
    // The first attempt registers and enables its key, then Auth0 never accepts an assertion
    // signed with it: the attempt fails for good before publishing (one failure allowed here).
    let config = WorkerConfig {
        max_failures: 1,
        propagation_timeout: Duration::from_millis(300),
        ..fx.config()
    };
    let worker = fx.worker_with(config, std::sync::Arc::clone(&fx.tokens));
    fx.broker_with(&fx.config(), std::sync::Arc::clone(&fx.tokens))
        .management_token(&fx.connection)
        .await
        .expect("the connection's token, cached before the fault");
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::fail(Some(TOKEN), 401, 1000));
    let outcome = until_rests(&worker).await;
    assert!(matches!(outcome, JobOutcome::Failed { .. }), "{outcome:?}");
    fx.emulator.admin().clear_faults(DOMAIN);
    let credentials = fx.credentials(&client);
    assert_eq!(credentials.len(), 2, "{credentials:?}");
    assert!(credentials.iter().all(|(_, enabled)| *enabled));

    // The next rotation removes the key nobody received, instead of failing for want of room,
    // and keeps the key in use beside its own.
    sqlx::query("update secret_rotations set due_at = now() where id = $1")
        .bind(rotation.id)
        .execute(&fx.pool)
        .await
        .expect("due");
    let outcome = until_rests(&fx.worker()).await;
    assert!(
        matches!(outcome, JobOutcome::Overlapping { .. }),
        "{outcome:?}"
    );
    let credentials = fx.credentials(&client);
    assert_eq!(credentials.len(), 2, "{credentials:?}");
    assert!(
        credentials.contains(&(old.kid.clone(), true)),
        "{credentials:?}"
    );
    assert!(credentials.iter().all(|(_, enabled)| *enabled));
    fx.finish_overlap(&rotation).await;
    let left = fx.credentials(&client);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0].0, old.kid);
}

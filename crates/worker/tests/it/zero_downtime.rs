//! Issue 18's proof of zero downtime: an app asks Auth0 for a token every 50 ms with whatever
//! credential it last read from its mapped secrets, and reads them again every second. Through 20
//! Private Key JWT rotations (each overlap ended as soon as the app has had time to read the new
//! key) not one of its token requests fails; the same app through 20 client-secret rotations sees
//! its requests refused until it reads the new secret. `bench/zero-downtime` prints both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth0::{
    AssertionCredentials, Auth0Client, Auth0Error, ClientAssertion, ClientCredentials, Domain,
    SigningAlg,
};
use crypto::{ExposeSecret, RootKeyring, SecretString};
use sqlx::PgPool;
use store::FolderId;
use store::rotations::mapping::{self, NewMapping, ROLE_CLIENT_ID, ROLE_CLIENT_SECRET};
use store::rotations::{self, Rotation};
use worker::{JobOutcome, Worker};

use crate::keys::{KID_KEY, PEM_KEY, key_fixture};
use crate::support::*;

/// How many rotations each run goes through, how often the app asks for a token and how often
/// it reads its credentials again.
const ROTATIONS: usize = 20;
const TOKEN_EVERY: Duration = Duration::from_millis(50);
const REFETCH_EVERY: Duration = Duration::from_secs(1);

const SECRET_KEY: &str = "APP_AUTH0_CLIENT_SECRET";

/// What the app authenticates with.
#[derive(Clone)]
enum Credential {
    Key { pem: String, kid: String },
    Secret(String),
}

/// The app's view of the run: token requests made, and those Auth0 refused.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    refused: AtomicUsize,
    /// Other failures (never expected): the emulator unreachable, say.
    other: AtomicUsize,
    /// The key id the app holds now.
    kid: std::sync::Mutex<String>,
}

/// A mapped secret's current value as an app reading it gets it; `None` before the first write.
pub(crate) async fn read_mapped(
    pool: &PgPool,
    keyring: &RootKeyring,
    folder: FolderId,
    key: &str,
) -> Option<String> {
    let mut conn = pool.acquire().await.expect("conn");
    let secret = store::secrets::get(&mut conn, folder, key, None)
        .await
        .ok()?;
    let place = broker::aad::SecretPlace {
        project_id: secret.project_id,
        environment_id: secret.environment_id,
        secret_id: secret.id,
        version: secret.version,
    };
    let binding = broker::aad::secret_value(secret.version_id, place);
    Some(
        keyring
            .open_str(&secret.value_sealed.0, &binding.aad())
            .expect("open")
            .expose_secret()
            .to_owned(),
    )
}

/// Whether Auth0 authenticates `client` with `credential` (a refusal for the missing Management
/// API grant comes after authentication, so it counts as a success).
async fn authenticates(
    auth0: &Auth0Client,
    client: &str,
    credential: &Credential,
) -> Result<bool, String> {
    let domain = Domain::parse(DOMAIN).expect("domain");
    let audience = domain.management_audience();
    let answer = match credential {
        Credential::Key { pem, kid } => {
            let creds = AssertionCredentials {
                domain,
                client_id: client.to_owned(),
                assertion: ClientAssertion::new(
                    SecretString::from(pem.as_str()),
                    kid,
                    SigningAlg::RS256,
                )
                .map_err(|e| e.to_string())?,
                audience,
            };
            auth0.client_assertion_token(&creds).await
        }
        Credential::Secret(secret) => {
            let creds = ClientCredentials {
                domain,
                client_id: client.to_owned(),
                client_secret: SecretString::from(secret.as_str()),
                audience,
            };
            auth0.client_credentials_token(&creds).await
        }
    };
    match answer {
        Ok(_) | Err(Auth0Error::NoGrantForAudience { .. }) => Ok(true),
        Err(Auth0Error::AssertionRejected { .. } | Auth0Error::WrongCredentials) => Ok(false),
        Err(other) => Err(other.to_string()),
    }
}

/// The app: a token request every 50 ms, its credentials read again every second, until `stop`.
#[allow(clippy::too_many_arguments)]
async fn app(
    auth0: Auth0Client,
    pool: PgPool,
    keyring: Arc<RootKeyring>,
    folder: FolderId,
    client: String,
    mut credential: Credential,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) {
    let mut fetched = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if fetched.elapsed() >= REFETCH_EVERY {
            fetched = Instant::now();
            credential = match &credential {
                Credential::Key { .. } => {
                    match (
                        read_mapped(&pool, &keyring, folder, PEM_KEY).await,
                        read_mapped(&pool, &keyring, folder, KID_KEY).await,
                    ) {
                        (Some(pem), Some(kid)) => {
                            kid.clone_into(&mut seen.kid.lock().expect("kid"));
                            Credential::Key { pem, kid }
                        }
                        _ => credential,
                    }
                }
                Credential::Secret(_) => read_mapped(&pool, &keyring, folder, SECRET_KEY)
                    .await
                    .map_or(credential, Credential::Secret),
            };
        }
        seen.requests.fetch_add(1, Ordering::Relaxed);
        match authenticates(&auth0, &client, &credential).await {
            Ok(true) => {}
            Ok(false) => {
                seen.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                seen.other.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(TOKEN_EVERY).await;
    }
}

/// Runs `process_one` until the rotation rests (overlapping, rotated) and returns how.
async fn next_rest(worker: &Worker) -> JobOutcome {
    let started = Instant::now();
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

async fn rotate_now(fx: &Fixture, rotation: &Rotation) {
    let mut tx = fx.pool.begin().await.expect("tx");
    rotations::control::rotate_now(&mut tx, fx.org_id, rotation.id)
        .await
        .expect("queued");
    tx.commit().await.expect("commit");
}

/// What one run saw: (token requests, refused, other failures).
fn totals(seen: &Seen) -> (usize, usize, usize) {
    (
        seen.requests.load(Ordering::Relaxed),
        seen.refused.load(Ordering::Relaxed),
        seen.other.load(Ordering::Relaxed),
    )
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_app_holding_a_private_key_never_fails_through_20_key_rotations(pool: PgPool) {
    let fx = key_fixture(pool).await;
    let client = target(0);
    let (first, _) = fx.hand_key(&client, &[]).await;
    let rotation = fx.key_rotation("zero-downtime", &client).await;
    let folder = fx.map_keys(&rotation).await;
    let worker = fx.worker();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let started = Instant::now();
    let consumer = tokio::spawn(app(
        fx.auth0.clone(),
        fx.pool.clone(),
        Arc::clone(&fx.keyring),
        folder,
        client.clone(),
        Credential::Key {
            pem: first.private_key_pem.expose_secret().to_owned(),
            kid: first.kid.clone(),
        },
        Arc::clone(&stop),
        Arc::clone(&seen),
    ));
    for n in 0..ROTATIONS {
        if n > 0 {
            rotate_now(&fx, &rotation).await;
        }
        let outcome = next_rest(&worker).await;
        assert!(
            matches!(outcome, JobOutcome::Overlapping { .. }),
            "{outcome:?}"
        );
        // The new key is published beside the old one; the app reads it at its next refetch.
        // In production the overlap lasts overlapSeconds (a day by default); here it ends as
        // soon as the app holds the new key, however slow the machine.
        let published = read_mapped(&fx.pool, &fx.keyring, folder, KID_KEY)
            .await
            .expect("published");
        let waiting = Instant::now();
        while *seen.kid.lock().expect("kid") != published {
            assert!(
                waiting.elapsed() < Duration::from_secs(20),
                "the app never read the new key"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fx.end_overlap(&rotation).await;
        let outcome = next_rest(&worker).await;
        assert!(matches!(outcome, JobOutcome::Rotated { .. }), "{outcome:?}");
        assert_eq!(fx.credentials(&client).len(), 1, "the old key was removed");
    }
    stop.store(true, Ordering::Relaxed);
    consumer.await.expect("app");
    let (requests, refused, other) = totals(&seen);
    eprintln!(
        "zero-downtime: private key JWT, {ROTATIONS} rotations in {:.1} s: {requests} token requests, {refused} refused, {other} other failures",
        started.elapsed().as_secs_f64()
    );
    assert!(requests > ROTATIONS * 10, "only {requests} token requests");
    assert_eq!(
        (refused, other),
        (0, 0),
        "token requests failed through key rotations"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_same_app_holding_a_client_secret_fails_at_each_rotation(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation_with("secret", &client, |_| {}).await;
    let prod = store::environments::by_slug(&fx.pool, fx.project_id, "prod")
        .await
        .expect("prod");
    let folder = {
        let mut conn = fx.pool.acquire().await.expect("conn");
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
                    (ROLE_CLIENT_ID, "APP_AUTH0_CLIENT_ID"),
                    (ROLE_CLIENT_SECRET, SECRET_KEY),
                ],
            }),
        )
        .await
        .expect("mapping");
        root.id
    };
    let worker = fx.worker();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let started = Instant::now();
    let consumer = tokio::spawn(app(
        fx.auth0.clone(),
        fx.pool.clone(),
        Arc::clone(&fx.keyring),
        folder,
        client.clone(),
        Credential::Secret(initial_secret(&client)),
        Arc::clone(&stop),
        Arc::clone(&seen),
    ));
    for n in 0..ROTATIONS {
        if n > 0 {
            rotate_now(&fx, &rotation).await;
        }
        let outcome = next_rest(&worker).await;
        assert!(matches!(outcome, JobOutcome::Rotated { .. }), "{outcome:?}");
        tokio::time::sleep(REFETCH_EVERY + Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    consumer.await.expect("app");
    let (requests, refused, other) = totals(&seen);
    eprintln!(
        "zero-downtime: client secret, {ROTATIONS} rotations in {:.1} s: {requests} token requests, {refused} refused, {other} other failures",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(other, 0);
    // Each rotation cuts the app off until it reads the new secret, up to a second later.
    assert!(
        refused >= ROTATIONS,
        "only {refused} refusals through {ROTATIONS} secret rotations"
    );
}

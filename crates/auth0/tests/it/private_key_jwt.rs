//! Private Key JWT against the emulator, the way a zero-downtime rotation uses it: register a
//! key, enable it, get tokens with signed assertions, add a second key beside the first, switch,
//! remove the old key — after which the old key is refused as an assertion, not as a secret.

use auth0::{
    AssertionCredentials, Auth0Client, Auth0Error, ClientAssertion, CredentialInfo, Domain,
    GeneratedKey, NewCredential, SecretString, SigningAlg, generate_key,
};
use auth0_emulator::{ClientSeed, Emulator, Fault, GrantSeed};

use crate::support::{CLIENT_ID, DOMAIN, SECRET, client_for, creds, domain, emulator_with};

/// The application whose keys rotate; it asks for Management API tokens with `read:clients`.
const APP: &str = "orders-app";
const APP_SECRET: &str = "orders-secret-canary-31c";

async fn tenant() -> Emulator {
    emulator_with(|tenant| {
        let audience = tenant.management_audience();
        tenant.grants.retain(|g| g.client_id != CLIENT_ID);
        tenant.grants.push(GrantSeed {
            client_id: CLIENT_ID.to_owned(),
            audience: audience.clone(),
            scopes: [
                "update:clients",
                "create:client_credentials",
                "read:client_credentials",
                "update:client_credentials",
                "delete:client_credentials",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        });
        tenant.clients.push(ClientSeed::m2m(APP, APP_SECRET));
        tenant.grants.push(GrantSeed {
            client_id: APP.to_owned(),
            audience,
            scopes: vec!["read:clients".to_owned()],
        });
    })
    .await
}

async fn manager_token(client: &Auth0Client) -> SecretString {
    client
        .client_credentials_token(&creds(DOMAIN, CLIENT_ID, SECRET, None))
        .await
        .expect("manager token")
        .token
}

fn app_creds(key: &GeneratedKey, alg: SigningAlg) -> AssertionCredentials {
    let domain = domain(DOMAIN);
    AssertionCredentials {
        audience: domain.management_audience(),
        domain,
        client_id: APP.to_owned(),
        assertion: ClientAssertion::new(key.private_key_pem.clone(), key.kid.clone(), alg)
            .expect("signing key"),
    }
}

async fn register(
    client: &Auth0Client,
    domain: &Domain,
    token: &SecretString,
    key: &GeneratedKey,
) -> CredentialInfo {
    let created = client
        .create_credential(
            domain,
            token,
            APP,
            &NewCredential {
                name: "orders key".to_owned(),
                public_key_pem: key.public_key_pem.clone(),
                alg: SigningAlg::RS256,
                kid: Some(key.kid.clone()),
                expires_at: Some("2099-01-01T00:00:00Z".to_owned()),
            },
        )
        .await
        .expect("credential registered");
    assert_eq!(created.kid, key.kid);
    assert_eq!(created.alg, "RS256");
    assert_eq!(created.credential_type, "public_key");
    created
}

fn keys() -> (GeneratedKey, GeneratedKey) {
    (
        generate_key(SigningAlg::RS256).expect("key A"),
        generate_key(SigningAlg::RS256).expect("key B"),
    )
}

#[tokio::test]
async fn rotation_with_two_overlapping_keys() {
    let emu = tenant().await;
    let client = client_for(&emu);
    let domain = domain(DOMAIN);
    let token = manager_token(&client).await;
    let (key_a, key_b) = keys();

    // Key A: registered, enabled, used.
    let cred_a = register(&client, &domain, &token, &key_a).await;
    client
        .enable_private_key_jwt(&domain, &token, APP, &[&cred_a.id])
        .await
        .expect("enable A");
    let granted = client
        .client_assertion_token(&app_creds(&key_a, SigningAlg::RS256))
        .await
        .expect("token with key A");
    assert_eq!(granted.scopes, ["read:clients"]);
    // The application's secret no longer counts.
    let err = client
        .client_credentials_token(&creds(DOMAIN, APP, APP_SECRET, None))
        .await
        .expect_err("secret refused");
    assert!(matches!(err, Auth0Error::WrongCredentials), "{err:?}");

    // Key B beside A: both work during the overlap.
    let cred_b = register(&client, &domain, &token, &key_b).await;
    client
        .enable_private_key_jwt(&domain, &token, APP, &[&cred_a.id, &cred_b.id])
        .await
        .expect("enable A and B");
    for key in [&key_a, &key_b] {
        client
            .client_assertion_token(&app_creds(key, SigningAlg::RS256))
            .await
            .expect("token during the overlap");
    }

    // B's expiry moves (a rotation dates each key to the next rotation plus the overlap).
    let redated = client
        .set_credential_expiry(
            &domain,
            &token,
            APP,
            &cred_b.id,
            Some("2098-02-03T04:05:06Z"),
        )
        .await
        .expect("new expiry");
    assert_eq!(
        redated.expires_at.as_deref(),
        Some("2098-02-03T04:05:06.000Z")
    );
    let cred_b = CredentialInfo {
        updated_at: redated.updated_at.clone(),
        expires_at: redated.expires_at.clone(),
        ..cred_b
    };
    assert_eq!(redated, cred_b);

    // Switch to B alone, then remove A.
    client
        .enable_private_key_jwt(&domain, &token, APP, &[&cred_b.id])
        .await
        .expect("enable B only");
    client
        .delete_credential(&domain, &token, APP, &cred_a.id)
        .await
        .expect("delete A");
    let listed = client
        .list_credentials(&domain, &token, APP)
        .await
        .expect("list");
    assert_eq!(listed, std::slice::from_ref(&cred_b));
    assert_eq!(
        client
            .get_credential(&domain, &token, APP, &cred_b.id)
            .await
            .expect("get B"),
        cred_b
    );
    let err = client
        .get_credential(&domain, &token, APP, &cred_a.id)
        .await
        .expect_err("A is gone");
    assert!(
        matches!(err, Auth0Error::CredentialNotFound { .. }),
        "{err:?}"
    );
    let err = client
        .delete_credential(&domain, &token, APP, &cred_a.id)
        .await
        .expect_err("deleting twice");
    assert!(
        matches!(err, Auth0Error::CredentialNotFound { .. }),
        "{err:?}"
    );

    client
        .client_assertion_token(&app_creds(&key_b, SigningAlg::RS256))
        .await
        .expect("token with key B");
    let err = client
        .client_assertion_token(&app_creds(&key_a, SigningAlg::RS256))
        .await
        .expect_err("old key refused");
    match &err {
        Auth0Error::AssertionRejected { reason } => {
            assert!(reason.contains("kid"), "{reason}");
        }
        other => panic!("expected AssertionRejected, got {other:?}"),
    }
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    let key_line = key_a
        .private_key_pem
        .expose_secret_line()
        .expect("a body line");
    assert!(!text.contains(&key_line), "no key material in errors");
}

#[tokio::test]
async fn refusals_map_to_clear_errors() {
    let emu = tenant().await;
    let client = client_for(&emu);
    let domain = domain(DOMAIN);
    let token = manager_token(&client).await;
    let (key_a, key_b) = keys();
    let cred_a = register(&client, &domain, &token, &key_a).await;
    let cred_b = register(&client, &domain, &token, &key_b).await;

    // Not enabled yet: the app still uses its secret, so an assertion is refused.
    let err = client
        .client_assertion_token(&app_creds(&key_a, SigningAlg::RS256))
        .await
        .expect_err("not enabled");
    assert!(
        matches!(err, Auth0Error::AssertionRejected { .. }),
        "{err:?}"
    );

    client
        .enable_private_key_jwt(&domain, &token, APP, &[&cred_a.id])
        .await
        .expect("enable");
    // Signing with another alg than the registered one.
    let err = client
        .client_assertion_token(&app_creds(&key_a, SigningAlg::PS256))
        .await
        .expect_err("alg mismatch");
    match &err {
        Auth0Error::AssertionRejected { reason } => assert!(reason.contains("alg"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
    // An enabled credential cannot be deleted; unknown ids and a third key are refused.
    let err = client
        .delete_credential(&domain, &token, APP, &cred_a.id)
        .await
        .expect_err("in use");
    assert!(
        matches!(err, Auth0Error::Upstream { status: 400, .. }),
        "{err:?}"
    );
    let err = client
        .enable_private_key_jwt(
            &domain,
            &token,
            APP,
            &[&cred_b.id, "cred_unknown0000000000"],
        )
        .await
        .expect_err("unknown id");
    assert!(
        matches!(err, Auth0Error::CredentialNotFound { .. }),
        "{err:?}"
    );
    let err = client
        .enable_private_key_jwt(&domain, &token, APP, &["a", "b", "c"])
        .await
        .expect_err("three");
    assert!(matches!(err, Auth0Error::Config { .. }), "{err:?}");

    // A manager without the credential scopes is told which one it lacks.
    let weak = client
        .client_credentials_token(&creds(DOMAIN, APP, "unused", None))
        .await;
    assert!(weak.is_err(), "the app no longer has a secret login");
    let reader = client
        .client_assertion_token(&app_creds(&key_a, SigningAlg::RS256))
        .await
        .expect("reader token")
        .token;
    let err = client
        .list_credentials(&domain, &reader, APP)
        .await
        .expect_err("scope");
    match &err {
        Auth0Error::MissingScope { needed } => assert_eq!(needed, &["read:client_credentials"]),
        other => panic!("unexpected {other:?}"),
    }
    // A public key is not a signing key.
    assert!(
        ClientAssertion::new(
            SecretString::from(key_a.public_key_pem.as_str()),
            key_a.kid.clone(),
            SigningAlg::RS256
        )
        .is_err()
    );
}

/// The second line of a PEM: part of the key body, present in any leak of the key.
trait PemLine {
    fn expose_secret_line(&self) -> Option<String>;
}

impl PemLine for SecretString {
    fn expose_secret_line(&self) -> Option<String> {
        use auth0::ExposeSecret as _;
        self.expose_secret().lines().nth(1).map(str::to_owned)
    }
}

#[tokio::test]
async fn a_retried_token_request_reuses_its_assertion_safely() {
    let emu = tenant().await;
    let client = client_for(&emu);
    let domain = domain(DOMAIN);
    let token = manager_token(&client).await;
    let key = generate_key(SigningAlg::PS256).expect("key");
    let created = client
        .create_credential(
            &domain,
            &token,
            APP,
            &NewCredential {
                name: "ps256".to_owned(),
                public_key_pem: key.public_key_pem.clone(),
                alg: SigningAlg::PS256,
                kid: None,
                expires_at: None,
            },
        )
        .await
        .expect("register");
    // Auth0 derived the kid; it is the RFC 7638 thumbprint generate_key also computed.
    assert_eq!(created.kid, key.kid);
    client
        .enable_private_key_jwt(&domain, &token, APP, &[&created.id])
        .await
        .expect("enable");
    // A 503 is answered before the assertion is looked at, so the retry (same jti) succeeds.
    emu.admin()
        .try_inject_fault(DOMAIN, Fault::fail(Some("POST /oauth/token"), 503, 1))
        .expect("fault");
    client
        .client_assertion_token(&app_creds(&key, SigningAlg::PS256))
        .await
        .expect("token after one retry");
    let counters = emu.admin().counters(DOMAIN).expect("tenant");
    assert_eq!(counters.faults_applied, 1);
}

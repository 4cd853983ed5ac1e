//! `private-key-jwt` connections against the emulator: Keyhold generates the key pair and shows
//! only the public half; the user registers it (or Keyhold does, `registerWith`); calls through
//! the connection then sign client assertions instead of sending a secret.

use auth0::{ClientCredentials, Domain, NewCredential, SecretString, SigningAlg};
use auth0_emulator::{ClientSeed, GrantSeed};
use axum::http::{Method, StatusCode};
use crypto::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{DOMAIN, KEY_ROTATIONS, TARGET_ID, TestApp, WIDE_ID, WIDE_SECRET};

const BASE: &str = "/api/v1/app-connections/auth0";
/// An M2M application that will authenticate with Keyhold's key; granted `read:clients`.
const PK_ID: &str = "pkjwtM2MclientID00000000000001";

/// The usual test app, plus the key-holding client and the scopes registering needs on the wide
/// client (which the `registerWith` connection uses).
async fn app(pool: PgPool) -> TestApp {
    app_granting(pool, &[]).await
}

/// `app`, with `extra` scopes granted to the key-holding client as well.
async fn app_granting(pool: PgPool, extra: &[&str]) -> TestApp {
    TestApp::build_with(
        pool,
        "s3cr3t-acme-client-secret-0123456789abcdef0123456789",
        None,
        |tenant| {
            tenant.clients.push(ClientSeed::m2m(
                PK_ID,
                "pk-client-initial-secret-0123456789abcdef",
            ));
            tenant.grants.push(GrantSeed {
                client_id: PK_ID.to_owned(),
                audience: tenant.management_audience(),
                scopes: ["read:clients"]
                    .iter()
                    .chain(extra)
                    .map(|s| (*s).to_owned())
                    .collect(),
            });
            let audience = tenant.management_audience();
            let wide = tenant
                .grants
                .iter_mut()
                .find(|g| g.client_id == WIDE_ID && g.audience == audience)
                .expect("wide grant");
            wide.scopes.push("create:client_credentials".to_owned());
            wide.scopes.push("delete:client_credentials".to_owned());
            wide.scopes.push("read:client_credentials".to_owned());
        },
    )
    .await
}

fn key_body(app: &TestApp, name: &str) -> Value {
    json!({
        "name": name,
        "method": "private-key-jwt",
        "projectId": app.project_id,
        "credentials": { "domain": DOMAIN, "clientId": PK_ID },
    })
}

async fn create(app: &TestApp, body: Value) -> crate::support::Reply {
    app.call(Method::POST, BASE, Some(body), &[]).await
}

/// Lines of the stored private key's PEM body, opened the way the broker does: what must appear
/// in no response, log line or database row.
async fn private_key_lines(app: &TestApp, connection: &Value) -> Vec<String> {
    let id = store::ConnectionId(
        connection["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id"),
    );
    let project = store::ProjectId(app.project_id.parse().expect("project"));
    let row = store::connection_keys::get(&app.pool, id)
        .await
        .expect("key row");
    let to = broker::Destination {
        domain: DOMAIN,
        client_id: PK_ID,
    };
    let binding = broker::aad::connection_private_key(row.id, id, project, to);
    let pem = app
        .state
        .broker
        .keyring
        .open_str(&row.private_key_sealed.0, &binding.aad())
        .expect("the key opens for its own tenant, client, project and connection");
    assert!(pem.expose_secret().contains("PRIVATE KEY"));
    let lines: Vec<String> = pem
        .expose_secret()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 10);
    lines
}

fn assert_absent(haystack: &str, lines: &[String], what: &str) {
    for line in lines {
        assert!(
            !haystack.contains(line.as_str()),
            "private key material in {what}"
        );
    }
}

/// The user's own registration, as they would do it in the Auth0 Dashboard.
async fn register_by_hand(app: &TestApp, public_key: &Value) {
    let domain = Domain::parse(DOMAIN).expect("domain");
    let creds = ClientCredentials {
        audience: domain.management_audience(),
        domain: domain.clone(),
        client_id: WIDE_ID.to_owned(),
        client_secret: SecretString::from(WIDE_SECRET),
    };
    let auth0 = &app.state.auth0;
    let token = auth0.client_credentials_token(&creds).await.expect("token");
    let created = auth0
        .create_credential(
            &domain,
            &token.token,
            PK_ID,
            &NewCredential {
                name: "by hand".to_owned(),
                public_key_pem: public_key["pem"].as_str().expect("pem").to_owned(),
                alg: SigningAlg::RS256,
                kid: Some(public_key["kid"].as_str().expect("kid").to_owned()),
                expires_at: None,
            },
        )
        .await
        .expect("credential");
    auth0
        .enable_private_key_jwt(&domain, &token.token, PK_ID, &[&created.id])
        .await
        .expect("enabled");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn create_returns_only_the_public_key(pool: PgPool) {
    let app = app(pool).await;
    let reply = create(&app, key_body(&app, "signer")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let c = &reply.json["appConnection"];
    assert_eq!(c["method"], "private-key-jwt");
    assert_eq!(c["status"], "pending-registration");
    assert_eq!(
        c["credentials"],
        json!({ "domain": DOMAIN, "clientId": PK_ID, "audience": format!("https://{DOMAIN}/api/v2/") })
    );
    let key = &c["publicKey"];
    assert!(
        key["pem"]
            .as_str()
            .is_some_and(|p| p.starts_with("-----BEGIN PUBLIC KEY-----"))
    );
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["jwk"]["kty"], "RSA");
    assert_eq!(key["jwk"]["kid"], key["kid"]);
    assert_eq!(key["kid"].as_str().map(str::len), Some(43));
    assert!(key["registeredAt"].is_null());
    assert!(!reply.text.contains("PRIVATE"));
    // Nothing was asked of Auth0: the user registers the key.
    let counters = app.emulator.admin().counters(DOMAIN).expect("tenant");
    assert_eq!(counters.tokens_issued, 0);

    let lines = private_key_lines(&app, c).await;
    assert_absent(&reply.text, &lines, "the create response");
    let id = c["id"].as_str().expect("id");
    let fetched = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert_eq!(fetched.json["appConnection"]["publicKey"], *key);
    assert_absent(&fetched.text, &lines, "the get response");
    let listed = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_absent(&listed.text, &lines, "the list response");
    // A list row names the key (kid, algorithm, registration) without carrying it.
    let row = listed.json["appConnections"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == c["id"]))
        .expect("listed");
    assert_eq!(
        row["publicKey"],
        json!({ "kid": key["kid"], "alg": "RS256", "registeredAt": null })
    );
    assert_eq!(row["status"], "pending-registration");
    // Canary: no row of any table holds the key's PEM body in plaintext.
    assert_absent(&app.dump().await, &lines, "the database");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_pending_connection_refuses_calls_until_registered_and_validated(pool: PgPool) {
    let app = app(pool).await;
    let reply = create(&app, key_body(&app, "manual")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let c = reply.json["appConnection"].clone();
    let id = c["id"].as_str().expect("id");

    // Calls through it: a clear 409 saying what to do, without asking Auth0.
    let clients = app
        .call(Method::GET, &format!("{BASE}/{id}/clients"), None, &[])
        .await;
    let problem = clients.problem(StatusCode::CONFLICT);
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("pending registration") && detail.contains(PK_ID),
        "{detail}"
    );

    // Validating before the key is registered: Auth0 refuses the assertion; 422 says why.
    let early = app
        .call(Method::POST, &format!("{BASE}/{id}/validate"), None, &[])
        .await;
    early.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(early.text.contains("publicKey"), "{}", early.text);
    let still = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(
        still.json["appConnection"]["status"],
        "pending-registration"
    );

    // The user registers the public key in Auth0, then validates.
    register_by_hand(&app, &c["publicKey"]).await;
    let validated = app
        .call(Method::POST, &format!("{BASE}/{id}/validate"), None, &[])
        .await;
    assert_eq!(validated.status, StatusCode::OK, "{}", validated.text);
    assert_eq!(validated.json["status"], "active");
    assert!(
        validated.json["diagnostics"]["grantedScopes"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("read:clients"))),
        "{}",
        validated.text
    );
    let now = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(now.json["appConnection"]["status"], "active");
    assert!(now.json["appConnection"]["publicKey"]["registeredAt"].is_string());

    // Calls now work, authenticated with a signed assertion.
    let clients = app
        .call(Method::GET, &format!("{BASE}/{id}/clients"), None, &[])
        .await;
    assert_eq!(clients.status, StatusCode::OK, "{}", clients.text);
    assert!(
        clients.json["clients"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["clientId"] == PK_ID))
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn register_with_registers_enables_and_validates(pool: PgPool) {
    let logs = crate::canary::captured_logs().clone();
    let app = app(pool).await;
    let registrar = app.create_wide("registrar").await;
    let mut body = key_body(&app, "keyed");
    body["registerWith"] = registrar["id"].clone();
    body["credentials"]["alg"] = json!("PS256");
    let reply = create(&app, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let c = reply.json["appConnection"].clone();
    assert_eq!(c["status"], "active", "{}", reply.text);
    assert_eq!(c["publicKey"]["alg"], "PS256");
    assert!(reply.json["diagnostics"]["grantedScopes"].is_array());
    let credential_id = reply.json["registration"]["credentialId"]
        .as_str()
        .expect("credential id");

    // Auth0 holds exactly Keyhold's key, enabled, under the kid Keyhold shows.
    let registered = app
        .emulator
        .admin()
        .client_credentials(DOMAIN, PK_ID)
        .expect("client");
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].id, credential_id);
    assert_eq!(
        registered[0].kid,
        c["publicKey"]["kid"].as_str().expect("kid")
    );
    assert_eq!(registered[0].alg, "PS256");
    assert!(registered[0].enabled);

    // A call through it: the broker signs an assertion (the client's secret no longer works).
    let id = c["id"].as_str().expect("id");
    let clients = app
        .call(Method::GET, &format!("{BASE}/{id}/clients"), None, &[])
        .await;
    assert_eq!(clients.status, StatusCode::OK, "{}", clients.text);
    let lines = private_key_lines(&app, &c).await;
    assert_absent(&reply.text, &lines, "the create response");
    assert_absent(&clients.text, &lines, "a call's response");
    let dump = app.dump().await;
    assert_absent(&dump, &lines, "the database");
    let hex_lines: Vec<String> = lines
        .iter()
        .map(|l| l.bytes().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_absent(&dump, &hex_lines, "a bytea column");
    let logs = String::from_utf8_lossy(&logs.lock().expect("log buffer")).into_owned();
    assert!(logs.contains(id), "the logs were captured");
    assert_absent(&logs, &lines, "the logs");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_refused_assertion_reads_clearly(pool: PgPool) {
    let app = app(pool).await;
    let registrar = app.create_wide("registrar").await;
    let mut body = key_body(&app, "keyed");
    body["registerWith"] = registrar["id"].clone();
    let reply = create(&app, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    crate::webhooks::create(
        &app,
        "https://hooks.example.com/keyhold",
        json!(["app-connection.credentials-rejected"]),
    )
    .await;
    // Someone enables only another key in Auth0 (replacing Keyhold's), and the cached token is gone.
    let other = create(&app, key_body(&app, "other")).await;
    register_by_hand(&app, &other.json["appConnection"]["publicKey"]).await;
    app.state.broker.tokens.invalidate(&id);

    let clients = app
        .call(Method::GET, &format!("{BASE}/{id}/clients"), None, &[])
        .await;
    let problem = clients.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "urn:keyhold:problem:auth0-rejected");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("client assertion") && detail.contains("publicKey"),
        "{detail}"
    );

    // Subscribers are told, with the key's kid and no key material.
    let kid = reply.json["appConnection"]["publicKey"]["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let events: Vec<Value> = sqlx::query_scalar(
        "select payload from webhook_events where type = 'app-connection.credentials-rejected'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("outbox");
    assert_eq!(events.len(), 1, "{events:?}");
    let data = &events[0]["data"];
    assert_eq!(data["connectionId"], id.as_str());
    let fix = data["whatToFix"].as_str().expect("whatToFix");
    assert!(fix.contains(&kid), "{fix}");
    let lines = private_key_lines(&app, &reply.json["appConnection"]).await;
    assert_absent(&events[0].to_string(), &lines, "the event");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_registrar_without_the_scopes_leaves_nothing_behind(pool: PgPool) {
    let app = app(pool).await;
    // The default connection's application has read:clients and update:client_keys only.
    let registrar = app.create("narrow").await;
    let mut body = key_body(&app, "refused");
    body["registerWith"] = registrar["id"].clone();
    let reply = create(&app, body).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.fields(),
        vec!["registerWith".to_owned()],
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("read:client_credentials"),
        "{}",
        reply.text
    );
    let path = format!(
        "{BASE}/connection-name/refused?projectId={}",
        app.project_id
    );
    let gone = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
    let rows: i64 = sqlx::query_scalar("select count(*) from connection_private_keys")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
    let registered = app
        .emulator
        .admin()
        .client_credentials(DOMAIN, PK_ID)
        .expect("client");
    assert!(registered.is_empty(), "{registered:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bad_input_is_refused_and_changes_nothing(pool: PgPool) {
    let app = app(pool).await;
    let registrar = app.create_wide("registrar").await;
    let mut foreign = app.connection_body("foreign");
    foreign["projectId"] = json!(app.project("team-b").await);
    foreign["credentials"] =
        json!({ "domain": DOMAIN, "clientId": WIDE_ID, "clientSecret": WIDE_SECRET });
    let foreign = create(&app, foreign).await;
    assert_eq!(foreign.status, StatusCode::CREATED, "{}", foreign.text);
    let foreign_id = foreign.json["appConnection"]["id"].clone();

    let before = app.dump().await;
    let good = key_body(&app, "bad");
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).expect("pointer") = value;
        body
    };
    let mut secret_sent = good.clone();
    secret_sent["credentials"]["clientSecret"] = json!("do-not-keep-me-0123456789");
    let mut foreign_registrar = good.clone();
    foreign_registrar["registerWith"] = foreign_id;
    let mut unknown_registrar = good.clone();
    unknown_registrar["registerWith"] = json!(uuid::Uuid::new_v4().to_string());
    let mut malformed_registrar = good.clone();
    malformed_registrar["registerWith"] = json!("not-a-uuid");
    let mut register_secret = app.connection_body("bad");
    register_secret["registerWith"] = registrar["id"].clone();
    let cases = [
        (
            "unsupported alg",
            with(
                "/credentials",
                json!({ "domain": DOMAIN, "clientId": PK_ID, "alg": "HS256" }),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("credentials.alg"),
        ),
        (
            "a secret for this method",
            secret_sent,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("credentials.clientSecret"),
        ),
        (
            "registerWith in another project",
            foreign_registrar,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "registerWith unknown",
            unknown_registrar,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "registerWith not a uuid",
            malformed_registrar,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("registerWith"),
        ),
        (
            "registerWith for a client secret",
            register_secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("registerWith"),
        ),
        (
            "unknown method",
            with("/method", json!("private-key")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("method"),
        ),
    ];
    for (what, body, status, field) in cases {
        let reply = create(&app, body).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.text);
        reply.problem(status);
        if let Some(field) = field {
            assert!(
                reply.fields().contains(&field.to_owned()),
                "{what}: {}",
                reply.text
            );
        }
        assert!(
            !reply.text.contains("do-not-keep-me"),
            "{what}: the value is echoed"
        );
    }
    assert_eq!(
        app.dump().await,
        before,
        "a refused create changed something"
    );
    assert!(
        app.emulator
            .admin()
            .client_credentials(DOMAIN, PK_ID)
            .expect("client")
            .is_empty()
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_key_connections_credentials_and_method_cannot_change(pool: PgPool) {
    let app = app(pool).await;
    let reply = create(&app, key_body(&app, "fixed")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("{BASE}/{id}");
    let before = app.dump().await;
    // Credentials without a secret are malformed for any connection (422); a well-formed change
    // of this connection's credentials or method conflicts with what it is (409).
    for (body, status) in [
        (
            json!({ "credentials": { "domain": DOMAIN, "clientId": PK_ID } }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "credentials": { "domain": DOMAIN, "clientId": PK_ID, "clientSecret": "x-0123456789" } }),
            StatusCode::CONFLICT,
        ),
        (
            json!({ "method": "client-credentials" }),
            StatusCode::CONFLICT,
        ),
    ] {
        let reply = app
            .call(Method::PATCH, &path, Some(body.clone()), &[])
            .await;
        reply.problem(status);
        assert!(!reply.text.contains("x-0123456789"), "{body}");
    }
    assert_eq!(app.dump().await, before);
    // Name and description still change as for any connection.
    let renamed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "renamed" })),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json["appConnection"]["method"], "private-key-jwt");
    assert!(renamed.json["appConnection"]["publicKey"]["pem"].is_string());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn register_with_keeps_an_enabled_key_and_never_pushes_one_out(pool: PgPool) {
    let app = app(pool).await;
    let registrar = app.create_wide("registrar").await;
    // A key the application already signs with, registered by hand.
    let first = create(&app, key_body(&app, "first")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    register_by_hand(&app, &first.json["appConnection"]["publicKey"]).await;

    let mut body = key_body(&app, "second");
    body["registerWith"] = registrar["id"].clone();
    let second = create(&app, body).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let enabled = |app: &TestApp| {
        app.emulator
            .admin()
            .client_credentials(DOMAIN, PK_ID)
            .expect("client")
            .into_iter()
            .filter(|c| c.enabled)
            .map(|c| c.kid)
            .collect::<Vec<_>>()
    };
    let kids = enabled(&app);
    assert_eq!(kids.len(), 2, "{kids:?}");
    for reply in [&first, &second] {
        let kid = reply.json["appConnection"]["publicKey"]["kid"]
            .as_str()
            .expect("kid");
        assert!(kids.iter().any(|k| k == kid), "{kid} not enabled: {kids:?}");
    }

    // Two enabled: a third is refused before anything is created, and nothing is stored.
    let mut body = key_body(&app, "third");
    body["registerWith"] = registrar["id"].clone();
    let third = create(&app, body).await;
    third.problem(StatusCode::CONFLICT);
    assert_eq!(enabled(&app), kids);
    assert_eq!(
        app.emulator
            .admin()
            .client_credentials(DOMAIN, PK_ID)
            .expect("client")
            .len(),
        2
    );
    let path = format!("{BASE}/connection-name/third?projectId={}", app.project_id);
    let gone = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn its_own_application_gets_no_client_secret_rotation(pool: PgPool) {
    let app = app(pool).await;
    let registrar = app.create_wide("registrar").await;
    let mut body = key_body(&app, "keyed");
    body["registerWith"] = registrar["id"].clone();
    let reply = create(&app, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json["appConnection"]["id"].as_str().expect("id");
    let before = app.dump().await;
    let rotation = app.rotation_body("own-key", id, PK_ID);
    let refused = app
        .call(
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            Some(rotation),
            &[],
        )
        .await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.fields(), vec!["parameters.clientId".to_owned()]);
    assert_eq!(app.dump().await, before);

    // Nor can a rotation of another application be pointed at it afterwards.
    let other = app
        .call(
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            Some(app.rotation_body("other-app", id, TARGET_ID)),
            &[],
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    let rotation_id = other.json["secretRotation"]["id"].as_str().expect("id");
    let before = app.dump().await;
    let retarget = app
        .call(
            Method::PATCH,
            &format!("/api/v2/secret-rotations/auth0-client-secret/{rotation_id}"),
            Some(json!({ "parameters": { "clientId": PK_ID } })),
            &[],
        )
        .await;
    retarget.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(retarget.fields(), vec!["parameters.clientId".to_owned()]);
    assert_eq!(app.dump().await, before);
}

/// The scopes a connection needs to rotate an application's keys, its own included.
const KEY_SCOPES: &[&str] = &[
    "update:clients",
    "read:client_credentials",
    "create:client_credentials",
    "delete:client_credentials",
];

/// (kid, enabled) of the key-holding client's credentials in Auth0, sorted.
fn pk_credentials(app: &TestApp) -> Vec<(String, bool)> {
    let mut all: Vec<(String, bool)> = app
        .emulator
        .admin()
        .client_credentials(DOMAIN, PK_ID)
        .expect("client")
        .into_iter()
        .map(|c| (c.kid, c.enabled))
        .collect();
    all.sort();
    all
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_connection_renews_its_own_key_with_an_overlap(pool: PgPool) {
    let logs = crate::canary::captured_logs().clone();
    let app = app_granting(pool, KEY_SCOPES).await;
    let registrar = app.create_wide("registrar").await;
    let mut body = key_body(&app, "self-renewing");
    body["registerWith"] = registrar["id"].clone();
    body["credentials"]["alg"] = json!("PS256");
    let reply = create(&app, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let connection = reply.json["appConnection"].clone();
    let id = connection["id"].as_str().expect("id");
    let old_kid = connection["publicKey"]["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let old_lines = private_key_lines(&app, &connection).await;

    // Its own key never leaves Keyhold: a rotation of it maps no secrets.
    let mut mapped = app.key_rotation_body("own-key", id, PK_ID);
    mapped["environment"] = json!("prod");
    mapped["secretPath"] = json!("/");
    mapped["secretsMapping"] =
        json!({ "clientId": "A_ID", "privateKey": "A_KEY", "keyId": "A_KID" });
    let before = app.dump().await;
    let refused = app
        .call(Method::POST, KEY_ROTATIONS, Some(mapped), &[])
        .await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.fields(), vec!["secretsMapping".to_owned()]);
    assert_eq!(app.dump().await, before);

    let created = app
        .call(
            Method::POST,
            KEY_ROTATIONS,
            Some(app.key_rotation_body("own-key", id, PK_ID)),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let rotation_id = created.json["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Nor can a mapping be added later.
    let remap = app
        .call(
            Method::PATCH,
            &format!("{KEY_ROTATIONS}/{rotation_id}"),
            Some(
                json!({ "environment": "prod", "secretPath": "/", "secretsMapping": {
                "clientId": "A_ID", "privateKey": "A_KEY", "keyId": "A_KID" } }),
            ),
            &[],
        )
        .await;
    remap.problem(StatusCode::UNPROCESSABLE_ENTITY);

    // The new key is enabled beside the old one, proven by a token, and the connection signs
    // with it from then on (a new version, so no token cached for the old one is reused).
    app.run_to_the_overlap().await;
    let during = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    let renewed = &during.json["appConnection"];
    let new_kid = renewed["publicKey"]["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(
        renewed["publicKey"]["alg"], "PS256",
        "the connection keeps its algorithm"
    );
    assert_eq!(renewed["publicKey"]["jwk"]["kid"], new_kid.as_str());
    assert!(renewed["version"].as_i64() > connection["version"].as_i64());
    assert_eq!(renewed["status"], "active");
    let mut both = vec![(old_kid.clone(), true), (new_kid.clone(), true)];
    both.sort();
    assert_eq!(pk_credentials(&app), both);
    let new_lines = private_key_lines(&app, renewed).await;
    assert_ne!(new_lines, old_lines);
    let clients = app
        .call(Method::GET, &format!("{BASE}/{id}/clients"), None, &[])
        .await;
    assert_eq!(clients.status, StatusCode::OK, "{}", clients.text);

    // After the overlap the old credential is gone, and calls still work: with the new key.
    app.finish_the_overlap().await;
    assert_eq!(pk_credentials(&app), vec![(new_kid.clone(), true)]);
    let clients = app
        .call(Method::GET, &format!("{BASE}/{id}/clients"), None, &[])
        .await;
    assert_eq!(clients.status, StatusCode::OK, "{}", clients.text);
    let validated = app
        .call(Method::POST, &format!("{BASE}/{id}/validate"), None, &[])
        .await;
    assert_eq!(validated.status, StatusCode::OK, "{}", validated.text);

    // Neither private key is anywhere but sealed.
    let dump = app.dump().await;
    let logs = String::from_utf8_lossy(&logs.lock().expect("log buffer")).into_owned();
    assert!(logs.contains(&rotation_id), "the logs were captured");
    for lines in [&old_lines, &new_lines] {
        assert_absent(&dump, lines, "the database");
        assert_absent(&logs, lines, "the logs");
        for reply in [&reply, &created, &during, &clients, &validated] {
            assert_absent(&reply.text, lines, "a response");
        }
    }
}

//! Management API calls for using a connection, against the emulator: every page of the client
//! list, client settings and grant types, resource servers, users, and how Auth0's refusals map
//! to errors. The Token Vault grant (which the emulator does not list yet) is checked against a
//! canned Auth0 answer for the request Keyhold sends.

use auth0::{
    Auth0Client, Auth0Error, ClientQuery, Created, Method, SecretString, TOKEN_VAULT_GRANT,
};
use auth0_emulator::{ClientSeed, ConnectionSeed, Emulator, GrantSeed, UserSeed};
use serde_json::{Map, Value, json};

use crate::support::{
    CLIENT_ID, CannedServer, DOMAIN, SECRET, client_for, domain, emulator_with, good_creds,
    override_config,
};

const ALL_SCOPES: &[&str] = &[
    "read:clients",
    "update:clients",
    "create:clients",
    "create:resource_servers",
    "read:users",
    "create:users",
    "update:users",
];
const PASSWORD: &str = "Canary-Passw0rd-77";

async fn full_tenant(extra_clients: usize) -> Emulator {
    emulator_with(|tenant| {
        let audience = tenant.management_audience();
        tenant.grants.retain(|g| g.client_id != CLIENT_ID);
        tenant.grants.push(GrantSeed {
            client_id: CLIENT_ID.to_owned(),
            audience,
            scopes: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        });
        for i in 0..extra_clients {
            tenant.clients.push(ClientSeed {
                client_id: format!("app{i:04}"),
                name: format!("App {i}"),
                app_type: "regular_web".to_owned(),
                ..ClientSeed::default()
            });
        }
        tenant.connections.push(ConnectionSeed {
            name: "Username-Password-Authentication".to_owned(),
            strategy: "auth0".to_owned(),
        });
        tenant.users.push(UserSeed {
            user_id: "auth0|known".to_owned(),
            email: "known@acme.test".to_owned(),
            password: PASSWORD.to_owned(),
            ..UserSeed::default()
        });
    })
    .await
}

async fn token(client: &Auth0Client) -> SecretString {
    client
        .client_credentials_token(&good_creds())
        .await
        .expect("token")
        .token
}

fn requests(emu: &Emulator, endpoint: &str) -> u64 {
    emu.admin()
        .counters(DOMAIN)
        .expect("tenant")
        .requests_by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn client_list_follows_every_page_without_the_global_client() {
    let emu = full_tenant(230).await;
    let client = client_for(&emu);
    let token = token(&client).await;
    let mut all = Vec::new();
    let mut page = Some(0);
    while let Some(n) = page {
        let got = client
            .list_clients_page(&domain(DOMAIN), &token, n, ClientQuery::SUMMARY)
            .await
            .expect("page");
        all.extend(got.clients);
        page = got.next_page;
    }
    // 230 apps, the M2M client and the one without client credentials; "All Applications" is not
    // a pickable application.
    assert_eq!(all.len(), 232);
    assert!(
        all.iter()
            .all(|c| c.name.as_deref() != Some("All Applications"))
    );
    let app = all
        .iter()
        .find(|c| c.client_id == "app0229")
        .expect("last app");
    assert_eq!(app.name.as_deref(), Some("App 229"));
    assert_eq!(app.app_type.as_deref(), Some("regular_web"));
    // Only the requested fields came back.
    assert!(app.grant_types.is_none() && app.is_first_party.is_none());
    assert_eq!(requests(&emu, "GET /api/v2/clients"), 3);
}

#[tokio::test]
async fn client_settings_and_grant_types_round_trip() {
    let emu = full_tenant(0).await;
    let client = client_for(&emu);
    let token = token(&client).await;
    let d = domain(DOMAIN);
    let settings = client
        .client_settings(&d, &token, CLIENT_ID)
        .await
        .expect("settings");
    assert_eq!(settings.is_first_party, Some(true));
    assert_eq!(settings.oidc_conformant, Some(true));
    assert_eq!(
        settings.token_endpoint_auth_method.as_deref(),
        Some("client_secret_post")
    );
    assert_eq!(
        settings.grant_types.as_deref(),
        Some(&["client_credentials".to_owned()][..])
    );
    let wanted = vec!["client_credentials".to_owned(), "refresh_token".to_owned()];
    let updated = client
        .set_client_grant_types(&d, &token, CLIENT_ID, &wanted)
        .await
        .expect("patch");
    assert_eq!(updated.grant_types.as_deref(), Some(&wanted[..]));

    let missing = client
        .client_settings(&d, &token, "no-such-client")
        .await
        .expect_err("unknown client");
    assert!(
        matches!(&missing, Auth0Error::ClientNotFound { client_id } if client_id == "no-such-client"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn resource_servers_are_created_once() {
    let emu = full_tenant(0).await;
    let client = client_for(&emu);
    let token = token(&client).await;
    let d = domain(DOMAIN);
    let scopes = vec!["read:calendar".to_owned()];
    let first = client
        .create_resource_server(
            &d,
            &token,
            "https://calendar.acme.test/",
            "Calendar",
            &scopes,
        )
        .await
        .expect("create");
    match first {
        Created::New(api) => {
            assert_eq!(api.identifier, "https://calendar.acme.test/");
            assert_eq!(api.name.as_deref(), Some("Calendar"));
        }
        Created::Existing => panic!("the API did not exist yet"),
    }
    let again = client
        .create_resource_server(
            &d,
            &token,
            "https://calendar.acme.test/",
            "Calendar",
            &scopes,
        )
        .await
        .expect("repeat");
    assert_eq!(again, Created::Existing);
}

#[tokio::test]
async fn users_get_create_update_and_their_refusals() {
    let emu = full_tenant(0).await;
    let client = client_for(&emu);
    let token = token(&client).await;
    let d = domain(DOMAIN);

    let known = client
        .get_user(&d, &token, "auth0|known")
        .await
        .expect("get");
    assert_eq!(known["email"], "known@acme.test");
    let missing = client
        .get_user(&d, &token, "auth0|nobody")
        .await
        .expect_err("404");
    assert!(
        matches!(&missing, Auth0Error::Upstream { status: 404, .. }),
        "{missing:?}"
    );

    let mut fields = Map::new();
    fields.insert(
        "connection".into(),
        json!("Username-Password-Authentication"),
    );
    fields.insert("email".into(), json!("new@acme.test"));
    fields.insert("user_metadata".into(), json!({ "plan": "free" }));
    let password = SecretString::from(PASSWORD);
    let created = client
        .create_user(&d, &token, &fields, Some(&password))
        .await
        .expect("create");
    let user_id = created["user_id"].as_str().expect("user id").to_owned();
    assert!(user_id.starts_with("auth0|"));
    assert!(
        !Value::Object(created.clone())
            .to_string()
            .contains(PASSWORD)
    );

    let duplicate = client
        .create_user(&d, &token, &fields, Some(&password))
        .await
        .expect_err("409");
    assert!(
        matches!(&duplicate, Auth0Error::Upstream { status: 409, .. }),
        "{duplicate:?}"
    );
    fields.insert("email".into(), json!("weak@acme.test"));
    let weak = client
        .create_user(&d, &token, &fields, Some(&SecretString::from("weak")))
        .await
        .expect_err("400");
    assert!(
        matches!(&weak, Auth0Error::Upstream { status: 400, .. }),
        "{weak:?}"
    );

    let mut change = Map::new();
    change.insert("user_metadata".into(), json!({ "plan": "pro" }));
    change.insert("name".into(), json!("New Name"));
    let updated = client
        .update_user(&d, &token, &user_id, &change, None)
        .await
        .expect("update");
    assert_eq!(updated["user_metadata"]["plan"], "pro");
    assert_eq!(updated["name"], "New Name");
}

#[tokio::test]
async fn missing_scopes_and_dead_tokens_are_named() {
    let emu = emulator_with(|_| {}).await;
    let client = client_for(&emu);
    let token = token(&client).await;
    let d = domain(DOMAIN);
    let err = client
        .get_user(&d, &token, "auth0|x")
        .await
        .expect_err("no read:users");
    match &err {
        Auth0Error::MissingScope { needed } => {
            assert!(needed.contains(&"read:users".to_owned()), "{needed:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = client
        .management_json(
            &d,
            &SecretString::from("not-a-jwt"),
            Method::GET,
            "/api/v2/clients",
            None,
        )
        .await
        .expect_err("bad token");
    assert!(matches!(err, Auth0Error::TokenRejected), "{err:?}");
    let err = client
        .management_json(&d, &token, Method::GET, "/oauth/token", None)
        .await
        .expect_err("not a management path");
    assert!(matches!(err, Auth0Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn generic_json_call_answers_any_management_route() {
    let emu = full_tenant(0).await;
    let client = client_for(&emu);
    let token = token(&client).await;
    let answer = client
        .management_json(
            &domain(DOMAIN),
            &token,
            Method::GET,
            "/api/v2/clients/cid?fields=client_id,name",
            None,
        )
        .await
        .expect("json");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({ "client_id": "cid", "name": "M2M cid" })
    );
}

/// The Token Vault grant type is not in the emulator's list, so the requests are checked against
/// a canned answer: what Keyhold sends, and that the client secret Auth0 returns is dropped.
#[tokio::test]
async fn token_vault_requests_carry_the_federated_grant() {
    let answer = format!(
        r#"{{"client_id":"new-api-client","name":"Calendar API","app_type":"resource_server","client_secret":"{SECRET}","resource_server_identifier":"https://calendar.acme.test/","grant_types":["{TOKEN_VAULT_GRANT}"]}}"#
    );
    let server = CannedServer::start("201 Created", &[], &answer).await;
    let client = Auth0Client::new(override_config(&server.url())).expect("client");
    let d = domain(DOMAIN);
    let token = SecretString::from("a-management-token");
    let created = client
        .create_custom_api_client(&d, &token, "https://calendar.acme.test/", "Calendar API")
        .await
        .expect("created");
    assert_eq!(created.client_id, "new-api-client");
    assert!(!format!("{created:?}").contains(SECRET));
    let grants = vec![
        "authorization_code".to_owned(),
        "refresh_token".to_owned(),
        TOKEN_VAULT_GRANT.to_owned(),
    ];
    client
        .set_client_grant_types(&d, &token, "web-app", &grants)
        .await
        .expect("patched");

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].starts_with("POST /api/v2/clients HTTP/1.1"),
        "{}",
        sent[0]
    );
    let body = |request: &str| -> Value {
        let (_, body) = request.split_once("\r\n\r\n").expect("body");
        serde_json::from_str(body).expect("json body")
    };
    assert_eq!(
        body(&sent[0]),
        json!({
            "name": "Calendar API",
            "app_type": "resource_server",
            "resource_server_identifier": "https://calendar.acme.test/",
            "grant_types": [TOKEN_VAULT_GRANT],
        })
    );
    assert!(
        sent[1].starts_with("PATCH /api/v2/clients/web-app HTTP/1.1"),
        "{}",
        sent[1]
    );
    assert_eq!(body(&sent[1]), json!({ "grant_types": grants }));
}

#[tokio::test]
async fn a_password_echoed_in_an_error_is_scrubbed() {
    let body = format!(
        r#"{{"statusCode":400,"error":"Bad Request","message":"PasswordDictionaryError: {PASSWORD} is too common","errorCode":"invalid_body"}}"#
    );
    let server = CannedServer::start("400 Bad Request", &[], &body).await;
    let client = Auth0Client::new(override_config(&server.url())).expect("client");
    let err = client
        .create_user(
            &domain(DOMAIN),
            &SecretString::from("t"),
            &Map::new(),
            Some(&SecretString::from(PASSWORD)),
        )
        .await
        .expect_err("400");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

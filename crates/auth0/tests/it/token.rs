//! The client-credentials grant against the emulator: success and every documented refusal,
//! each mapped to the reason a user needs.

use auth0::{Auth0Error, ExposeSecret};

use crate::support::{
    BILLING_API, CLIENT_ID, CannedServer, DOMAIN, NO_CC_CLIENT, SCOPES, SECRET, client_for, creds,
    emulator, good_creds, override_config,
};

#[tokio::test]
async fn issues_a_token_with_scopes_and_lifetime() {
    let emu = emulator().await;
    let token = client_for(&emu)
        .client_credentials_token(&good_creds())
        .await
        .expect("token");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.expires_in, 86_400);
    assert_eq!(token.scopes, SCOPES);
    // A real JWT came back: three dot-separated parts.
    assert_eq!(token.token.expose_secret().split('.').count(), 3);
    assert!(!format!("{token:?}").contains(token.token.expose_secret()));
    assert_eq!(
        emu.admin().counters(DOMAIN).expect("tenant").tokens_issued,
        1
    );
}

#[tokio::test]
async fn wrong_secret_is_wrong_credentials() {
    let emu = emulator().await;
    let err = client_for(&emu)
        .client_credentials_token(&creds(DOMAIN, CLIENT_ID, "not-the-secret", None))
        .await
        .expect_err("must fail");
    assert!(matches!(err, Auth0Error::WrongCredentials), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.reason().contains("client secret is wrong"));
    // Permanent failures are not retried.
    let counters = emu.admin().counters(DOMAIN).expect("tenant");
    assert_eq!(
        counters.requests_by_endpoint.get("POST /oauth/token"),
        Some(&1)
    );
}

#[tokio::test]
async fn unknown_client_is_wrong_credentials() {
    let emu = emulator().await;
    let err = client_for(&emu)
        .client_credentials_token(&creds(DOMAIN, "no-such-client", SECRET, None))
        .await
        .expect_err("must fail");
    assert!(matches!(err, Auth0Error::WrongCredentials), "{err:?}");
}

#[tokio::test]
async fn missing_client_grant_names_the_audience() {
    let emu = emulator().await;
    let err = client_for(&emu)
        .client_credentials_token(&creds(DOMAIN, CLIENT_ID, SECRET, Some(BILLING_API)))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, Auth0Error::NoGrantForAudience { audience } if audience == BILLING_API),
        "{err:?}"
    );
    assert!(err.reason().contains(BILLING_API));
}

#[tokio::test]
async fn disabled_grant_type_is_reported() {
    let emu = emulator().await;
    let err = client_for(&emu)
        .client_credentials_token(&creds(DOMAIN, NO_CC_CLIENT, SECRET, None))
        .await
        .expect_err("must fail");
    assert!(matches!(err, Auth0Error::GrantTypeNotAllowed), "{err:?}");
    assert!(err.reason().contains("Grant Types"));
}

#[tokio::test]
async fn unknown_audience_is_reported() {
    let emu = emulator().await;
    let audience = "https://nothing-here.acme.test/";
    let err = client_for(&emu)
        .client_credentials_token(&creds(DOMAIN, CLIENT_ID, SECRET, Some(audience)))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, Auth0Error::UnknownAudience { audience: a } if a == audience),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_tenant_host_is_reported() {
    let emu = emulator().await;
    let err = client_for(&emu)
        .client_credentials_token(&creds("other.auth0.test", CLIENT_ID, SECRET, None))
        .await
        .expect_err("must fail");
    assert!(matches!(err, Auth0Error::UnknownTenant), "{err:?}");
    assert!(!err.is_retryable());
}

/// Auth0 serves the Management API only on the canonical tenant domain; asking a custom
/// domain for `https://{custom}/api/v2/` gets this 403. The emulator has no custom domains,
/// so a canned server plays Auth0's documented answer.
#[tokio::test]
async fn custom_domain_for_management_api_is_explained() {
    let custom = "login.acme.test";
    let body = r#"{"error":"access_denied","error_description":"Service not enabled within domain: https://login.acme.test/api/v2/"}"#;
    let server = CannedServer::start("403 Forbidden", &[], body).await;
    let client = auth0::Auth0Client::new(override_config(&server.url())).expect("client");
    let err = client
        .client_credentials_token(&creds(custom, CLIENT_ID, SECRET, None))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, Auth0Error::CustomDomain { audience } if audience == "https://login.acme.test/api/v2/"),
        "{err:?}"
    );
    assert!(err.reason().contains("canonical"), "{}", err.reason());
    assert_eq!(server.requests().len(), 1);
}

/// The request on the wire: form-encoded grant with all four parameters, and the tenant
/// domain as `Host` even though the connection goes to the override endpoint.
#[tokio::test]
async fn sends_form_encoded_grant_with_tenant_host() {
    let server = CannedServer::start(
        "200 OK",
        &[],
        r#"{"access_token":"opaque","token_type":"Bearer","expires_in":60}"#,
    )
    .await;
    let client = auth0::Auth0Client::new(override_config(&server.url())).expect("client");
    let token = client
        .client_credentials_token(&good_creds())
        .await
        .expect("token");
    assert_eq!(token.expires_in, 60);
    assert!(
        token.scopes.is_empty(),
        "opaque token without scope field has no scopes"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = requests[0].to_ascii_lowercase();
    assert!(
        request.starts_with("post /oauth/token http/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\nhost: acme.auth0.test\r\n"),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/x-www-form-urlencoded"),
        "{request}"
    );
    let body = requests[0].split("\r\n\r\n").nth(1).unwrap_or_default();
    let expected = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={SECRET}&audience=https%3A%2F%2Facme.auth0.test%2Fapi%2Fv2%2F"
    );
    assert_eq!(body, expected);
}

/// An endpoint that echoes the request back in its error must not get the secret into our
/// error text.
#[tokio::test]
async fn echoed_secret_is_scrubbed_from_errors() {
    let body = format!(
        r#"{{"error":"invalid_request","error_description":"bad body: client_secret={SECRET}"}}"#
    );
    let server = CannedServer::start("400 Bad Request", &[], &body).await;
    let client = auth0::Auth0Client::new(override_config(&server.url())).expect("client");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, Auth0Error::Upstream { status: 400, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?} {}", err.reason());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("[redacted]"));
}

//! The web dashboard in headless Chromium, against `keyhold dev` (API, Auth0 emulator and rotation
//! worker): signing in, connections (create, a refused secret shown at its field, listing with no
//! secret in the page), rotations (create, rotate now, reveal), the audit log, an expired session,
//! signing out, and what a viewer is offered. Screenshots go to `$UI_SCREENSHOTS_DIR` when set.

mod browser;
mod common;

use browser::{Browser, DEMO_CLIENT_ID, DEMO_DOMAIN, DEMO_TARGET_ID, Dev};
use reqwest::Method;
use sqlx::PgPool;

fn assert_hidden(everything: &str, secrets: &[&str], at: &str) {
    for secret in secrets {
        assert!(
            !everything.contains(secret),
            "a secret is readable in the page at {at}"
        );
    }
}

/// `keyhold dev` on this test's database, the instance admin's token and the demo project's id.
async fn dev_as_admin(pool: &PgPool) -> (Dev, String, String) {
    let url = common::database_url(pool, None).await;
    let dev = Dev::start(&url, env!("CARGO_BIN_EXE_keyhold")).await;
    let token = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&token).await;
    (dev, token, project)
}

#[sqlx::test(migrations = false)]
async fn a_member_of_the_platform_team_works_through_the_dashboard(pool: PgPool) {
    let (dev, _, project) = dev_as_admin(&pool).await;
    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);

    // Signing in.
    browser.goto(&ui).await;
    browser.page("sign-in").await;
    browser.screenshot("01-sign-in").await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("projects").await;
    browser.screenshot("02-projects").await;
    browser.click("a.project-link").await;
    browser.page("connections").await;

    // A connection: Auth0 refuses a wrong secret, and the form says so at the secret's field.
    browser.click("#new-connection").await;
    browser.page("connection-new").await;
    let wrong = "wrong-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    browser.fill("#name", "orders-auth0").await;
    browser.fill("#domain", DEMO_DOMAIN).await;
    browser.fill("#clientId", DEMO_CLIENT_ID).await;
    browser.fill("#clientSecret", wrong).await;
    browser.click("#connection-submit").await;
    let field_error = browser
        .element("[data-error-for='credentials.clientSecret']:not(:empty)")
        .await;
    let said = field_error.text().await.expect("error text");
    assert!(!said.trim().is_empty(), "no error next to the secret");
    browser.screenshot("03-connection-refused").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[wrong, &dev.demo_secret],
        "the refused form",
    );

    // The right secret: created, listed, and the secret is nowhere in the page.
    browser.fill("#clientSecret", &dev.demo_secret).await;
    browser.click("#connection-submit").await;
    browser.page("connection-detail").await;
    browser.screenshot("04-connection-detail").await;
    browser.click("#nav-connections").await;
    browser.page("connections").await;
    let row = browser
        .element("#connections-table tr[data-connection-id]")
        .await;
    let text = row.text().await.expect("row");
    assert!(
        text.contains("orders-auth0") && text.contains(DEMO_CLIENT_ID),
        "{text}"
    );
    browser.screenshot("05-connections").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[wrong, &dev.demo_secret],
        "the connections list",
    );

    // A rotation of the tenant's orders service, picked from the connection's client list.
    browser.click("#nav-rotations").await;
    browser.page("rotations").await;
    browser.click("#new-rotation").await;
    browser.page("rotation-new").await;
    browser.fill("#rotation-name", "orders-secret").await;
    let connections = browser.element("#rotation-connection").await;
    connections
        .select_by_label("orders-auth0")
        .await
        .expect("pick the connection");
    let clients = browser
        .element(&format!(
            "#rotation-client option[value='{DEMO_TARGET_ID}']"
        ))
        .await;
    clients.click().await.expect("pick the client");
    browser.screenshot("06-rotation-new").await;
    browser.click("#rotation-submit").await;
    browser.page("rotation-detail").await;

    // Rotate now: progress, then the outcome.
    browser.click("#rotate-now").await;
    let outcome = browser
        .element("#rotation-outcome[data-outcome]")
        .await
        .attr("data-outcome")
        .await
        .expect("outcome");
    assert_eq!(outcome.as_deref(), Some("success"));
    browser.element("#rotation-attempts tbody tr").await;
    browser.screenshot("07-rotation-done").await;

    // The audited reveal: hidden until asked for, gone after leaving the page.
    assert!(!browser.exists("#revealed-secret:not(:empty)").await);
    browser.click("#reveal-credentials").await;
    let revealed = browser
        .element("#revealed-secret:not(:empty)")
        .await
        .text()
        .await
        .expect("secret");
    assert!(
        revealed.trim().len() >= 32,
        "revealed {} chars",
        revealed.len()
    );
    browser.click("#nav-rotations").await;
    browser.page("rotations").await;
    browser.screenshot("08-rotations").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[revealed.trim()],
        "the page after a reveal",
    );

    // The audit log, filtered by action.
    browser.click("#nav-audit").await;
    browser.page("audit").await;
    browser.element("#audit-table tr[data-audit-id]").await;
    browser.fill("#audit-action", "app_connection.create").await;
    browser.click("#audit-apply").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//table[@id='audit-table']//tr[@data-audit-id][contains(., 'app_connection.create')]",
        ))
        .await
        .expect("the filtered event");
    let rows = browser
        .client
        .find_all(fantoccini::Locator::Css("#audit-table tr[data-audit-id]"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "only the one create event");
    browser.screenshot("09-audit").await;

    // An expired session goes to sign-in and comes back to where it was.
    let rotations = format!("{ui}#/projects/{project}/rotations");
    browser
        .run("sessionStorage.setItem('keyhold.token', 'kh_expired'); return null;")
        .await;
    browser.goto(&rotations).await;
    browser.page("sign-in").await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("rotations").await;

    // Signing out revokes the token and forgets it.
    let held = browser
        .run("return sessionStorage.getItem('keyhold.token');")
        .await;
    let held = held.as_str().expect("a token while signed in").to_owned();
    browser.click("#sign-out").await;
    browser.page("sign-in").await;
    assert_eq!(
        browser
            .run("return sessionStorage.getItem('keyhold.token');")
            .await,
        serde_json::Value::Null
    );
    let (status, _) = dev.api(&held, Method::GET, "/api/v1/projects", None).await;
    assert_eq!(status, 401, "the signed-out token still works");
    assert_eq!(browser.run("return localStorage.length;").await, 0);

    // Phone width: the list still renders.
    browser
        .client
        .set_window_size(375, 800)
        .await
        .expect("resize");
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("rotations").await;
    browser
        .goto(&format!("{ui}#/projects/{project}/connections"))
        .await;
    browser.page("connections").await;
    browser
        .element("#connections-table tr[data-connection-id]")
        .await;
    browser.screenshot("10-connections-phone").await;
}

#[sqlx::test(migrations = false)]
async fn a_viewer_is_offered_nothing_it_may_not_do(pool: PgPool) {
    let (dev, token, project) = dev_as_admin(&pool).await;
    // Something to look at: a connection and a rotation, made by the admin through the API.
    let connection = dev.connection(&token, &project, "orders-auth0").await;
    let (status, rotation) = dev
        .api(
            &token,
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            Some(serde_json::json!({
                "name": "orders-secret", "projectId": project, "connectionId": connection,
                "rotationInterval": 30, "parameters": { "clientId": DEMO_TARGET_ID },
            })),
        )
        .await;
    assert_eq!(status, 201, "{rotation}");
    let rotation = rotation["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (viewer_id, viewer_secret) = dev
        .member(&token, &project, "dashboard-viewer", "viewer")
        .await;

    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    browser.goto(&ui).await;
    browser.sign_in(&viewer_id, &viewer_secret).await;
    browser.page("projects").await;
    browser.click("a.project-link").await;
    browser.page("connections").await;
    browser
        .element("#connections-table tr[data-connection-id]")
        .await;
    browser
        .offers_none(&["#new-connection", "#nav-audit"])
        .await;
    browser.screenshot("11-viewer-connections").await;

    browser
        .goto(&format!(
            "{ui}#/projects/{project}/connections/{connection}"
        ))
        .await;
    browser.page("connection-detail").await;
    browser
        .offers_none(&[
            "#edit-connection",
            "#delete-connection",
            "#check-scopes",
            "#connection-audit",
        ])
        .await;

    browser
        .goto(&format!("{ui}#/projects/{project}/rotations/{rotation}"))
        .await;
    browser.page("rotation-detail").await;
    browser
        .offers_none(&["#rotate-now", "#reveal-credentials"])
        .await;
    browser
        .goto(&format!("{ui}#/projects/{project}/rotations"))
        .await;
    browser.page("rotations").await;
    browser.offers_none(&["#new-rotation"]).await;
}

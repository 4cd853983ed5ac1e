//! The web dashboard in headless Chromium, against `keyhold dev` (API, Auth0 emulator and rotation
//! worker): signing in, connections (create, a refused secret shown at its field, listing with no
//! secret in the page), rotations (create, rotate now, reveal), the audit log, an expired session,
//! signing out, and what a viewer is offered; Private Key JWT connections and key rotations (the
//! public key to copy, the overlap countdown, no private key in any page). Screenshots go to
//! `$UI_SCREENSHOTS_DIR` when set. Every page a test waits for is checked with axe-core (no WCAG
//! 2.2 A/AA violation; see `browser::Browser::accessible`).

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
    let (dev, admin_token, project) = dev_as_admin(&pool).await;
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

    // A rotation of the tenant's orders service, picked from the connection's client list. The
    // empty list first says what the two types do, what they need and where to start.
    browser.click("#nav-rotations").await;
    browser.page("rotations").await;
    let onboarding = browser.text_of("#rotations-onboarding").await;
    assert!(
        onboarding.contains("Private key JWT") && onboarding.contains("create:client_credentials"),
        "{onboarding}"
    );
    browser.element("#first-rotation").await;
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
    // Written into project secrets too: the first environment (dev), the root folder.
    browser
        .element("#rotation-environment option[value='dev']")
        .await;
    browser
        .fill("#rotation-map-client-id", "ORDERS_AUTH0_CLIENT_ID")
        .await;
    browser
        .fill("#rotation-map-client-secret", "ORDERS_AUTH0_CLIENT_SECRET")
        .await;
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
    // The first attempt was started by creating the rotation, the second by hand.
    count(&browser, "#rotation-attempts tbody tr", 2).await;
    let triggers = browser
        .run(
            "return [...document.querySelectorAll('#rotation-attempts tbody tr')] \
               .map((tr) => [tr.dataset.attemptId ? tr.querySelector('th').textContent : '', tr.children[3].textContent]);",
        )
        .await;
    assert_eq!(
        triggers,
        serde_json::json!([["2", "manual"], ["1", "on creation"]])
    );
    // Times are in UTC, the reader's own time on hover.
    let started = browser
        .run(
            "const t = document.querySelector('#rotation-attempts time'); \
             return [t.textContent, t.title];",
        )
        .await;
    assert!(
        started[0].as_str().is_some_and(|t| t.ends_with(" UTC"))
            && started[1]
                .as_str()
                .is_some_and(|t| t.starts_with("Your time: ")),
        "{started}"
    );
    browser.screenshot("07-rotation-done").await;

    // The audited reveal: nothing until asked for, then masked until "Show", only the active
    // secret unless the previous is asked for, copied to a clipboard that is cleared again, and
    // hidden by itself. The page's timers (60 s, 30 s) are shortened through its test knob.
    assert!(!browser.exists("#revealed-secret:not(:empty)").await);
    browser
        .run(
            "sessionStorage.setItem('keyhold.revealTimers', JSON.stringify({ hideMs: 8000, clearMs: 1500 })); \
             location.reload(); return null;",
        )
        .await;
    browser.page("rotation-detail").await;
    browser
        .fill("#reveal-reason", "  incident 42: orders app  ")
        .await;
    browser.click("#reveal-credentials").await;
    let masked = browser
        .text_of("#revealed-secret[data-masked='true']:not(:empty)")
        .await;
    assert!(
        masked.trim().chars().all(|c| c == '•'),
        "not masked: {} chars",
        masked.len()
    );
    // Two secrets exist (the first rotation and "rotate now"); the older one is not even fetched.
    assert!(browser.exists("#show-previous:not([hidden])").await);
    assert!(browser.exists("#revealed-previous-secret:empty").await);
    browser.click("#show-secret").await;
    let revealed = browser
        .text_of("#revealed-secret[data-masked='false']")
        .await;
    assert!(
        revealed.trim().len() >= 32,
        "revealed {} chars",
        revealed.len()
    );
    // Headless Chromium lets the page write the clipboard but not read it back, so what is
    // checked is the page's own account: the copy was accepted, then the clearing write was.
    browser.click("#copy-secret").await;
    browser.element("#copy-status[data-copied='true']").await;
    browser.element("#copy-status[data-copied='cleared']").await;
    browser.click("#show-previous").await;
    let older = browser
        .text_of("#revealed-previous-secret:not(:empty)")
        .await;
    assert_ne!(older.trim(), revealed.trim());
    // Left alone, the panel hides itself and the secrets leave the page.
    browser.element("#reveal-panel[hidden]").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[revealed.trim(), older.trim()],
        "the reveal after it hid itself",
    );
    let (status, reveals) = dev
        .api(
            &admin_token,
            reqwest::Method::GET,
            &format!("/api/v1/audit-logs?projectId={project}&action=secret_rotation.reveal"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{reveals}");
    // Two reveals: the active secret, then the previous on request, both with the reason.
    let rows = reveals["auditLogs"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{reveals}");
    for row in rows {
        assert_eq!(
            row["metadata"]["reason"], "incident 42: orders app",
            "{reveals}"
        );
    }
    let mut kinds: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["metadata"]["revealed"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["active", "all"], "{reveals}");
    // A secret pasted as the reason is refused at the field, emptied, and nothing is revealed.
    browser.fill("#reveal-reason", revealed.trim()).await;
    browser.click("#reveal-credentials").await;
    let said = browser
        .text_of("[data-error-for='reason']:not(:empty)")
        .await;
    assert!(said.contains("must not contain a secret"), "{said}");
    assert_eq!(property(&browser, "#reveal-reason", "value").await, "");
    assert!(browser.exists("#reveal-panel[hidden]").await);
    let (_, again) = dev
        .api(
            &admin_token,
            reqwest::Method::GET,
            &format!("/api/v1/audit-logs?projectId={project}&action=secret_rotation.reveal"),
            None,
        )
        .await;
    assert_eq!(
        again["auditLogs"].as_array().map(Vec::len),
        Some(2),
        "{again}"
    );
    // The mapped secret holds the same secret, for apps to read with Infisical's SDKs.
    let (status, mapped) = dev
        .api(
            &admin_token,
            reqwest::Method::GET,
            &format!("/api/v3/secrets/raw/ORDERS_AUTH0_CLIENT_SECRET?workspaceId={project}&environment=dev&secretPath=%2F"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{mapped}");
    assert_eq!(mapped["secret"]["secretValue"], revealed.trim());
    browser.click("#nav-rotations").await;
    browser.page("rotations").await;
    browser.screenshot("08-rotations").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[revealed.trim()],
        "the page after a reveal",
    );
    // Filtered by status, kept in the address.
    browser
        .select_value("#rotation-status-filter", "failed")
        .await;
    count(&browser, "#rotations-table tbody tr", 0).await;
    text_becomes(&browser, "#rotations-table-count", "0 rotations").await;
    text_becomes(&browser, ".list-message", "No rotation last failed.").await;
    browser
        .select_value("#rotation-status-filter", "success")
        .await;
    count(&browser, "#rotations-table tbody tr", 1).await;
    text_becomes(&browser, "#rotations-table-count", "1 rotation").await;
    let hash = browser.run("return location.hash;").await;
    assert!(
        hash.as_str().is_some_and(|h| h.contains("status=success")),
        "{hash}"
    );

    // The audit log, filtered by action.
    browser.click("#nav-audit").await;
    browser.page("audit").await;
    browser.element("#audit-table tr[data-audit-id]").await;
    browser
        .select_value("#audit-action", "app_connection.create")
        .await;
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
    // The create Auth0 refused (the wrong secret) is recorded too, as a failure; neither secret
    // is on the page.
    assert_eq!(rows.len(), 2, "the refused create and the create");
    let mut outcomes = Vec::new();
    for row in &rows {
        let text = row.text().await.expect("row");
        outcomes.push(if text.contains("failure") {
            "failure"
        } else {
            "success"
        });
    }
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["failure", "success"]);
    assert_hidden(
        &browser.everything_visible().await,
        &[wrong, &dev.demo_secret],
        "the audit log",
    );
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
        .offers_none(&["#new-connection", "#nav-audit", "#nav-webhooks"])
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

    // Members: who is in the project, and nothing to change.
    browser.click("#nav-members").await;
    browser.page("members").await;
    let members = browser.text_of("#members-table").await;
    assert!(members.contains("dashboard-viewer"), "{members}");
    browser
        .offers_none(&[
            "#member-form",
            "#project-form",
            "#delete-project",
            ".remove-member",
            ".save-role",
            "select.member-role",
        ])
        .await;
    browser.screenshot("33-viewer-members").await;
    // Identities are the instance admins': neither the link nor the form.
    browser.click("#nav-projects").await;
    browser.page("projects").await;
    browser.element("a.project-link").await;
    browser.offers_none(&["#nav-identities"]).await;
    browser.goto(&format!("{ui}#/identities")).await;
    browser.page("identities").await;
    browser
        .offers_none(&["#identity-form", "#identities-table"])
        .await;
    // Nor the audit log, of the project or of the instance.
    browser.goto(&format!("{ui}#/audit")).await;
    browser.page("audit-all").await;
    browser
        .offers_none(&["#audit-table", "#audit-export-csv"])
        .await;
    browser
        .goto(&format!("{ui}#/projects/{project}/audit"))
        .await;
    browser.page("audit").await;
    browser
        .offers_none(&["#audit-table", "#audit-export-csv"])
        .await;
}

#[sqlx::test(migrations = false)]
async fn secrets_are_browsed_by_environment_and_folder_and_revealed_only_on_demand(pool: PgPool) {
    let (dev, token, project) = dev_as_admin(&pool).await;
    let (first, second, typed) = (
        "canary-first-7f3a9c1e2b",
        "canary-second-5d8e0a4f6c",
        "canary-typed-9b2c7e1d3a",
    );
    let (status, folder) = dev
        .api(
            &token,
            Method::POST,
            "/api/v2/folders",
            Some(serde_json::json!({
                "projectId": project, "environment": "prod", "path": "/", "name": "orders",
            })),
        )
        .await;
    assert_eq!(status, 200, "{folder}");
    let secret = |value: &str| {
        serde_json::json!({
            "workspaceId": project, "environment": "prod", "secretPath": "/orders",
            "secretValue": value, "type": "shared",
        })
    };
    let path = "/api/v3/secrets/raw/ORDERS_DB_URL";
    let (status, body) = dev
        .api(&token, Method::POST, path, Some(secret(first)))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = dev
        .api(&token, Method::PATCH, path, Some(secret(second)))
        .await;
    assert_eq!(status, 200, "{body}");

    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    browser.goto(&ui).await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("projects").await;
    browser.click("a.project-link").await;
    browser.page("connections").await;

    // From the nav to prod, then into the folder, by links (so Back and reload keep the place).
    browser.click("#nav-secrets").await;
    browser.page("secrets").await;
    browser.click(".tabs a[data-env='prod']").await;
    browser.click("#folders a[data-folder='orders']").await;
    let row = "#secrets-table tr[data-secret-key='ORDERS_DB_URL']";
    let text = browser.element(row).await.text().await.expect("row");
    assert!(
        text.contains("ORDERS_DB_URL") && text.contains('2'),
        "{text}"
    );
    assert_hidden(
        &browser.everything_visible().await,
        &[first, second],
        "the secrets list",
    );
    let page = browser.everything_visible().await;
    assert!(
        !page.contains("null"),
        "an absent part printed as text: {page}"
    );
    browser.screenshot("12-secrets").await;

    // Reveal the current value, then hide it: gone from the page again.
    browser.click(&format!("{row} .reveal-secret")).await;
    let shown = browser
        .text_of("code[data-revealed-for='ORDERS_DB_URL']")
        .await;
    assert_eq!(shown, second);
    browser.click(&format!("{row} .hide-secret")).await;
    assert_hidden(
        &browser.everything_visible().await,
        &[first, second],
        "the list after Hide",
    );

    // A past version, picked in the row.
    browser
        .select_value(&format!("{row} select.version-pick"), "1")
        .await;
    browser.click(&format!("{row} .reveal-secret")).await;
    let shown = browser
        .text_of("code[data-revealed-for='ORDERS_DB_URL']")
        .await;
    assert_eq!(shown, first);

    // Each reveal is in the audit log, naming the secret and version, never the value.
    let (status, audit) = dev
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/audit-logs?projectId={project}&action=secret.read"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let reads = audit["auditLogs"].as_array().map_or(0, Vec::len);
    assert!(reads >= 2, "two reveals, {reads} audited: {audit}");
    assert_hidden(&audit.to_string(), &[first, second], "the audit log");

    // A new secret through the form: listed, its value not in the page.
    browser.click("#new-secret").await;
    browser.fill("#secret-key", "PAYMENTS_KEY").await;
    browser.fill("#secret-value", typed).await;
    browser.click("#secret-submit").await;
    browser
        .element("#secrets-table tr[data-secret-key='PAYMENTS_KEY']")
        .await;
    assert_hidden(
        &browser.everything_visible().await,
        &[first, second, typed],
        "the list after creating",
    );

    // A viewer reads and reveals, but is offered no write.
    let (viewer_id, viewer_secret) = dev
        .member(&token, &project, "secrets-viewer", "viewer")
        .await;
    browser.click("#sign-out").await;
    browser.page("sign-in").await;
    browser.sign_in(&viewer_id, &viewer_secret).await;
    // Signing in again returns to the page that was open, here the same folder.
    browser.page("secrets").await;
    browser.click(&format!("{row} .reveal-secret")).await;
    let shown = browser
        .text_of("code[data-revealed-for='ORDERS_DB_URL']")
        .await;
    assert_eq!(shown, second);
    browser
        .offers_none(&["#new-secret", ".delete-secret"])
        .await;
}

/// One request a receiver got: its headers and body.
type Received = (axum::http::HeaderMap, Vec<u8>);

/// A loopback webhook receiver: records every request's headers and body, answers 204.
struct Receiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&got);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let seen = std::sync::Arc::clone(&seen);
                    async move {
                        seen.lock().expect("lock").push((headers, body.to_vec()));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

/// Fails unless `request` carries a signature the Standard Webhooks crate accepts under `secret`.
fn verify(secret: &str, (headers, body): &Received) {
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(body, headers)
        .unwrap_or_else(|err| panic!("the signature does not verify: {err:?}"));
}

fn header(request: &Received, name: &str) -> String {
    request.0[name].to_str().expect("header").to_owned()
}

/// Waits until the page has exactly `n` elements matching `css`.
async fn count(browser: &Browser, css: &str, n: usize) {
    let started = std::time::Instant::now();
    loop {
        let found = browser
            .client
            .find_all(fantoccini::Locator::Css(css))
            .await
            .expect("find")
            .len();
        if found == n {
            return;
        }
        assert!(
            started.elapsed() < browser::PAGE_WAIT,
            "{found} of {css}, not {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A `keyhold dev` that may send to loopback receivers, a receiver, a project with a viewer
/// member, and the instance admin signed in on the projects page: where the webhook and audit
/// stream tests start.
struct Outbound {
    dev: Dev,
    token: String,
    project: String,
    receiver: Receiver,
    viewer: (String, String),
    browser: Browser,
    ui: String,
}

async fn outbound(pool: &PgPool, viewer: &str) -> Outbound {
    let url = common::database_url(pool, None).await;
    let dev = Dev::start_with(
        &url,
        env!("CARGO_BIN_EXE_keyhold"),
        &[("KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")],
    )
    .await;
    let token = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&token).await;
    let receiver = Receiver::start().await;
    let (viewer_id, viewer_secret) = dev.member(&token, &project, viewer, "viewer").await;

    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    browser.goto(&ui).await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("projects").await;
    Outbound {
        dev,
        token,
        project,
        receiver,
        viewer: (viewer_id, viewer_secret),
        browser,
        ui,
    }
}

#[sqlx::test(migrations = false)]
async fn audit_log_streams_are_added_with_write_only_headers_and_deliver_signed_batches(
    pool: PgPool,
) {
    const API_KEY: &str = "dd-api-key-canary-6e1f";
    // `_dev` keeps the server running to the end (a `_` pattern would drop it at once).
    let Outbound {
        dev: _dev,
        token: _,
        project,
        receiver,
        viewer: (viewer_id, viewer_secret),
        browser,
        ui,
    } = outbound(&pool, "streams-viewer").await;
    browser
        .goto(&format!("{ui}#/projects/{project}/audit"))
        .await;
    browser.page("audit").await;
    browser.click("#audit-streams").await;
    browser.page("audit-streams").await;
    browser.element("#streams-empty:not(:empty)").await;

    // A URL the API refuses is said at its field; a header left half-filled, at the header.
    browser.click("#new-stream").await;
    browser
        .fill("#stream-url", "ftp://receiver.test/intake")
        .await;
    browser.click("#stream-add-header").await;
    browser.fill("#stream-header-0-key", "DD-API-KEY").await;
    browser.click("#stream-submit").await;
    browser
        .element("#stream-form [data-error-for='headers.0.value']:not(:empty)")
        .await;
    browser.fill("#stream-header-0-value", API_KEY).await;
    browser.click("#stream-submit").await;
    browser
        .element("#stream-form [data-error-for='url']:not(:empty)")
        .await;
    browser.accessible("the stream form with errors").await;

    // Created: the signing secret once, the header by name only.
    browser.fill("#stream-url", &receiver.url).await;
    browser.fill("#stream-description", "siem intake").await;
    browser.click("#stream-submit").await;
    let secret = browser.text_of("#signing-secret:not(:empty)").await;
    assert!(secret.starts_with("whsec_"), "a Standard Webhooks secret");
    browser.accessible("the new stream's one-time secret").await;
    browser.screenshot("40-audit-stream-created").await;
    browser.click("#dismiss-signing-secret").await;
    let row = browser.text_of("#streams-table tr[data-stream-id]").await;
    assert!(
        row.contains(&receiver.url) && row.contains("dd-api-key") && row.contains("siem intake"),
        "{row}"
    );
    assert_hidden(
        &browser.everything_visible().await,
        &[&secret, API_KEY],
        "the streams page after create",
    );

    // The worker sends the project's audit log there, signed, with the header.
    let started = std::time::Instant::now();
    while receiver.received().is_empty() {
        assert!(started.elapsed() < browser::PAGE_WAIT, "no batch arrived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = receiver.received();
    verify(&secret, &got[0]);
    assert_eq!(header(&got[0], "dd-api-key"), API_KEY);
    let batch: serde_json::Value = serde_json::from_slice(&got[0].1).expect("json");
    assert_eq!(batch["type"], "audit-log.events");
    let actions: Vec<&str> = batch["data"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"audit_log_stream.create"), "{actions:?}");
    // Its delivery state on the page: read again until it shows.
    let started = std::time::Instant::now();
    loop {
        browser.client.refresh().await.expect("reload");
        browser.page("audit-streams").await;
        browser.element("#streams-table tr[data-stream-id]").await;
        if browser
            .exists("#streams-table tr[data-stream-id]:not([data-delivered='0'])")
            .await
        {
            break;
        }
        assert!(
            started.elapsed() < browser::PAGE_WAIT,
            "nothing shown delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    // Edited without touching the headers (their values cannot be shown to edit), then disabled.
    browser.click(".edit-stream").await;
    assert_eq!(
        property(&browser, "#stream-url", "value").await,
        receiver.url.as_str()
    );
    assert_eq!(
        property(&browser, "#stream-add-header", "disabled").await,
        true
    );
    browser
        .fill("#stream-description", "siem intake (prod)")
        .await;
    browser.click("#stream-submit").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//table[@id='streams-table']//tr[@data-stream-id][contains(., 'siem intake (prod)')][contains(., 'dd-api-key')]",
        ))
        .await
        .expect("the saved description, the header kept");
    browser.click(".toggle-stream").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//table[@id='streams-table']//tr[@data-stream-id]//span[contains(@class, 'badge')][.='disabled']",
        ))
        .await
        .expect("disabled");

    // At 390 px the rows are cards: nothing scrolls sideways.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    let fits = browser
        .run(
            "const wrap = document.querySelector('#streams-table').closest('.table-wrap'); \
             return wrap.scrollWidth <= wrap.clientWidth + 1 \
               && document.documentElement.scrollWidth <= window.innerWidth + 1;",
        )
        .await;
    assert_eq!(fits, true, "the streams table fits 390 px");
    browser.accessible("the streams page at 390 px").await;
    browser.screenshot("41-audit-streams-390").await;
    browser
        .client
        .set_window_size(1280, 800)
        .await
        .expect("resize");

    // Deleted after confirming.
    browser
        .run("window.confirm = (m) => { window.asked = m; return true; }; return null;")
        .await;
    browser.click(".delete-stream").await;
    browser.element("#streams-empty:not(:empty)").await;
    let asked = browser.run("return window.asked;").await;
    assert!(
        asked.as_str().is_some_and(|m| m.contains(&receiver.url)),
        "{asked}"
    );

    // The instance's own streams, for the instance admin.
    browser.goto(&format!("{ui}#/audit-streams")).await;
    browser.page("audit-streams-all").await;
    browser.element("#new-stream").await;

    // A viewer is told who manages streams and offered nothing, here or instance-wide.
    browser
        .goto(&format!("{ui}#/projects/{project}/audit-streams"))
        .await;
    browser.page("audit-streams").await;
    browser.click("#sign-out").await;
    browser.page("sign-in").await;
    browser.sign_in(&viewer_id, &viewer_secret).await;
    browser.page("audit-streams").await;
    let note = browser.text_of("main .alert-info").await;
    assert!(note.contains("Only project admins"), "{note}");
    browser
        .offers_none(&["#new-stream", "#streams-table"])
        .await;
    browser.goto(&format!("{ui}#/audit-streams")).await;
    browser.page("audit-streams-all").await;
    browser
        .offers_none(&["#new-stream", "#streams-table"])
        .await;
}

#[sqlx::test(migrations = false)]
async fn webhooks_are_managed_with_a_one_time_secret_a_test_event_and_the_delivery_log(
    pool: PgPool,
) {
    let Outbound {
        dev,
        token,
        project,
        receiver,
        viewer: (viewer_id, viewer_secret),
        browser,
        ui,
    } = outbound(&pool, "webhooks-viewer").await;
    browser.click("a.project-link").await;
    browser.page("connections").await;
    browser.click("#nav-webhooks").await;
    browser.page("webhooks").await;
    browser.element("#webhooks-empty").await;

    // A URL the API refuses: its reason shows at the URL field.
    browser.click("#new-webhook").await;
    browser.page("webhook-new").await;
    browser
        .fill("#webhook-url", "ftp://receiver.test/hook")
        .await;
    browser.click("#webhook-submit").await;
    let said = browser.text_of("[data-error-for='url']:not(:empty)").await;
    assert!(!said.trim().is_empty(), "no error next to the URL");
    assert_eq!(
        browser
            .element("#webhook-url")
            .await
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );

    // The loopback receiver, two event types picked instead of all.
    browser.fill("#webhook-url", &receiver.url).await;
    browser
        .fill("#webhook-description", "orders <b>receiver</b>")
        .await;
    browser.click("#event-all").await;
    browser.click("#event-webhook-test").await;
    browser.click("#event-secret-created").await;
    browser.screenshot("13-webhook-new").await;
    browser.click("#webhook-submit").await;

    // The signing secret, once, with the warning; in the page only, never in storage or the URL.
    let secret = browser.text_of("#signing-secret:not(:empty)").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let once = browser.text_of("#secret-once").await;
    assert!(once.contains("will not see this secret again"), "{once}");
    // Copy: to the clipboard, or (where the browser refuses) selected for Ctrl+C; either is said.
    browser.click("#copy-signing-secret").await;
    let copied = browser.text_of("#copy-status:not(:empty)").await;
    let selected = browser.run("return String(window.getSelection());").await;
    assert!(
        copied.starts_with("Copied") || selected.as_str() == Some(secret.as_str()),
        "{copied}"
    );
    browser.screenshot("14-webhook-secret-once").await;
    let kept = browser
        .run(
            "return JSON.stringify([Object.assign({}, sessionStorage), \
             Object.assign({}, localStorage), document.cookie, location.href, history.length])",
        )
        .await;
    assert_hidden(&kept.to_string(), &[&secret], "storage or the URL");

    // Leaving the one-time page forgets it.
    browser.click("#signing-secret-done").await;
    browser.page("webhook-detail").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[&secret],
        "the webhook's page",
    );
    browser.client.back().await.expect("back");
    browser.page("webhook-new").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[&secret],
        "the create page again",
    );

    // Listed, the description escaped as text.
    browser.click("#nav-webhooks").await;
    browser.page("webhooks").await;
    let row = browser.element("#webhooks-table tr[data-webhook-id]").await;
    let text = row.text().await.expect("row");
    assert!(
        text.contains(&receiver.url)
            && text.contains("orders <b>receiver</b>")
            && text.contains("webhook.test")
            && text.contains("secret.created")
            && text.contains("enabled"),
        "{text}"
    );
    assert!(
        !browser.exists("#webhooks-table b").await,
        "markup from data"
    );
    browser.screenshot("15-webhooks").await;
    browser.click("#webhooks-table tr[data-webhook-id] a").await;
    browser.page("webhook-detail").await;
    browser.element("#deliveries-empty").await;

    // Edit: the description changes, the rest stays.
    browser.click("#edit-webhook").await;
    browser
        .fill("#webhook-description", "orders receiver")
        .await;
    browser.click("#webhook-submit").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//section[@id='webhook-detail']//dd[.='orders receiver']",
        ))
        .await
        .expect("the new description");

    // A test event: delivered, signed with the secret shown once, and in the log.
    browser.click("#test-webhook").await;
    let delivered =
        "#webhook-deliveries tr[data-event-type='webhook.test'][data-status='delivered']";
    let first = browser.element(delivered).await;
    let text = first.text().await.expect("row");
    assert!(
        text.contains("webhook.test") && text.contains("HTTP 204") && text.contains(" ms"),
        "{text}"
    );
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//div[@id='webhook-notice'][contains(., 'test event was delivered: the receiver answered HTTP 204')]",
        ))
        .await
        .expect("the test event's outcome");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    verify(&secret, &got[0]);
    let body: serde_json::Value = serde_json::from_slice(&got[0].1).expect("json");
    assert_eq!(body["type"], "webhook.test");

    // Redelivered: a second attempt of the same delivery, with the same webhook-id.
    browser
        .click(&format!("{delivered} .redeliver-delivery"))
        .await;
    browser
        .element("#webhook-deliveries tr[data-status='delivered'][data-attempts='2']")
        .await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    verify(&secret, &got[1]);
    assert_eq!(header(&got[0], "webhook-id"), header(&got[1], "webhook-id"));
    browser.screenshot("16-webhook-deliveries").await;

    // Rotating the secret shows the new one once and says both sign for 24 h.
    browser
        .run("window.confirm = (m) => { window.asked = m; return true; }; return null;")
        .await;
    browser.click("#rotate-webhook-secret").await;
    let rotated = browser.text_of("#signing-secret:not(:empty)").await;
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let panel = browser.text_of("#one-time-secret").await;
    assert!(panel.contains("two signatures"), "{panel}");
    assert!(panel.contains(" UTC"), "the time says its zone: {panel}");
    let asked = browser.run("return window.asked;").await;
    assert!(
        asked.as_str().is_some_and(|m| m.contains("24 hours")),
        "{asked}"
    );
    browser.click("#dismiss-signing-secret").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[&secret, &rotated],
        "the page after hiding the new secret",
    );
    // During the overlap a delivery verifies with either secret.
    browser.click("#test-webhook").await;
    count(&browser, delivered, 2).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    verify(&rotated, &got[2]);
    verify(&secret, &got[2]);

    // Edited to a URL the API refuses: said at the field. Then to a port nobody listens on: the
    // test event's failed attempt is in the log with its error, retried on its own (no redeliver).
    browser.click("#edit-webhook").await;
    browser
        .fill("#webhook-url", "ftp://receiver.test/hook")
        .await;
    browser.click("#webhook-submit").await;
    browser
        .element("#webhook-form [data-error-for='url']:not(:empty)")
        .await;
    let closed = format!("http://127.0.0.1:{}/hook", browser::free_port());
    browser.fill("#webhook-url", &closed).await;
    browser.click("#webhook-submit").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(&format!(
            "//span[@id='webhook-url-shown'][.='{closed}']"
        )))
        .await
        .expect("the new URL");
    browser.click("#test-webhook").await;
    // At least one attempt made (a slow machine may see the second retry already).
    let retrying = "#webhook-deliveries tr[data-status='pending']:not([data-attempts='0'])";
    let error = browser.text_of(&format!("{retrying} td.message")).await;
    assert!(!error.trim().is_empty() && error != "—", "{error}");
    assert!(
        !browser
            .exists(&format!("{retrying} .redeliver-delivery"))
            .await
    );
    assert_eq!(receiver.received().len(), 3, "sent to the old URL");

    // Disabled: no test event can be sent.
    browser.click("#toggle-webhook").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//button[@id='toggle-webhook'][.='Enable']",
        ))
        .await
        .expect("the webhook disabled");
    assert!(
        browser
            .element("#test-webhook")
            .await
            .attr("disabled")
            .await
            .expect("attr")
            .is_some()
    );
    let (status, listed) = dev
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/webhooks?projectId={project}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["webhooks"][0]["enabled"], false, "{listed}");
    let webhook = listed["webhooks"][0]["id"].as_str().expect("id").to_owned();

    // Disabled by Keyhold (what the worker's upkeep writes after 72 h of failed deliveries): the
    // reason shows in the list and on the webhook's page, as text.
    let reason = "disabled by Keyhold: no delivery succeeded for 72 hours <img src=x>";
    sqlx::query(
        "update webhook_endpoints set disabled_reason = $2, \
           failing_since = now() - interval '72 hours' where id = $1::uuid",
    )
    .bind(&webhook)
    .bind(reason)
    .execute(&pool)
    .await
    .expect("disable as Keyhold does");
    browser.click("#nav-webhooks").await;
    browser.page("webhooks").await;
    let row = "#webhooks-table tr[data-webhook-id]";
    let text = browser.element(row).await.text().await.expect("row");
    assert!(
        text.contains("disabled by Keyhold") && text.contains("failing"),
        "{text}"
    );
    let shown = browser.text_of(&format!("{row} .disabled-reason")).await;
    assert_eq!(shown, reason);
    assert!(!browser.exists("main img").await, "markup from data");
    browser.click(&format!("{row} a")).await;
    browser.page("webhook-detail").await;
    let shown = browser.text_of("#webhook-detail .disabled-reason").await;
    assert_eq!(shown, reason);

    // A viewer is offered no webhook page and no action, even at the webhook's address.
    browser.click("#sign-out").await;
    browser.page("sign-in").await;
    browser.sign_in(&viewer_id, &viewer_secret).await;
    browser.page("webhook-detail").await;
    let note = browser.text_of("main .alert-info").await;
    assert!(note.contains("Only project admins"), "{note}");
    let controls = [
        "#nav-webhooks",
        "#new-webhook",
        "#edit-webhook",
        "#toggle-webhook",
        "#test-webhook",
        "#rotate-webhook-secret",
        "#delete-webhook",
        ".redeliver-delivery",
        "#webhook-deliveries",
    ];
    browser.offers_none(&controls).await;
    assert!(!browser.source().await.contains(&receiver.url));
    browser
        .goto(&format!("{ui}#/projects/{project}/webhooks"))
        .await;
    browser.page("webhooks").await;
    browser.offers_none(&controls).await;
    browser.offers_none(&["#webhooks-table"]).await;

    // Back as the admin: deleted after confirming, and gone from the list.
    browser.click("#sign-out").await;
    browser.page("sign-in").await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("webhooks").await;
    browser
        .goto(&format!("{ui}#/projects/{project}/webhooks/{webhook}"))
        .await;
    browser.page("webhook-detail").await;
    browser
        .run("window.confirm = (m) => { window.asked = m; return true; }; return null;")
        .await;
    browser.click("#delete-webhook").await;
    browser.page("webhooks").await;
    browser.element("#webhooks-empty").await;
    let asked = browser.run("return window.asked;").await;
    assert!(
        asked.as_str().is_some_and(|m| m.starts_with("Delete")),
        "{asked}"
    );
    let (status, listed) = dev
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/webhooks?projectId={project}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["webhooks"], serde_json::json!([]), "{listed}");
}

/// Polls `check` until it holds (the API is read while the page settles).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen");
}

/// The public key PEM of a listed connection: a list row names the key, its own GET carries it.
async fn stored_pem(dev: &Dev, token: &str, row: &serde_json::Value) -> String {
    let id = row["id"].as_str().expect("id");
    let (status, body) = dev
        .api(
            token,
            Method::GET,
            &format!("/api/v1/app-connections/auth0/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["appConnection"]["publicKey"]["kid"],
        row["publicKey"]["kid"]
    );
    body["appConnection"]["publicKey"]["pem"]
        .as_str()
        .expect("pem")
        .to_owned()
}

/// The role of identity `identity` in `project` as the API tells it; `None` when not a member.
async fn role_of(dev: &Dev, token: &str, project: &str, identity: &str) -> Option<String> {
    let (status, body) = dev
        .api(
            token,
            Method::GET,
            &format!("/api/v1/projects/{project}/memberships"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["memberships"]
        .as_array()
        .expect("memberships")
        .iter()
        .find(|m| m["identityId"] == identity)
        .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
}

#[sqlx::test(migrations = false)]
async fn projects_members_and_machine_identities_are_managed_by_admins(pool: PgPool) {
    let (dev, token, _demo) = dev_as_admin(&pool).await;
    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    browser.goto(&ui).await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("projects").await;

    // A new project: its creator lands on its members page as its admin.
    browser.click("#new-project-open").await;
    browser.fill("#new-project-name", "billing").await;
    browser.fill("#new-project-description", "Invoices").await;
    browser.screenshot("30-project-new").await;
    browser.click("#new-project-submit").await;
    browser.page("members").await;
    let heading = browser.element("h1").await.text().await.expect("heading");
    assert_eq!(heading, "Members of billing");
    let (_, projects) = dev.api(&token, Method::GET, "/api/v1/projects", None).await;
    let project = projects["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .find(|p| p["name"] == "billing")
        .expect("billing was created")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(browser.exists("#members-table tr[data-identity-id]").await);

    // A machine identity, its client secret shown once: in the page only, and it signs in.
    browser.click("#nav-projects").await;
    browser.page("projects").await;
    browser.click("#nav-identities").await;
    browser.page("identities").await;
    browser.fill("#identity-name", "billing-deployer").await;
    browser.click("#identity-submit").await;
    let secret = browser.text_of("#client-secret-once:not(:empty)").await;
    let once = browser.text_of("#secret-once").await;
    assert!(once.contains("will not see this secret again"), "{once}");
    browser.accessible("the one-time client secret").await;
    browser.screenshot("31-identity-secret-once").await;
    let kept = browser
        .run(
            "return JSON.stringify([Object.assign({}, sessionStorage), \
             Object.assign({}, localStorage), document.cookie, location.href, history.length])",
        )
        .await;
    assert_hidden(&kept.to_string(), &[&secret], "storage or the URL");
    let (_, identities) = dev
        .api(&token, Method::GET, "/api/v1/identities?limit=500", None)
        .await;
    let deployer = identities["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .find(|i| i["name"] == "billing-deployer")
        .expect("listed")
        .clone();
    let deployer_id = deployer["id"].as_str().expect("id").to_owned();
    let client_id = deployer["clientId"].as_str().expect("client id");
    let shown = browser.text_of("#one-time-secret").await;
    assert!(shown.contains(client_id), "{shown}");
    assert!(dev.login(client_id, &secret).await.starts_with("kh_"));
    browser.click("#client-secret-done").await;
    assert_hidden(
        &browser.everything_visible().await,
        &[&secret],
        "the identities page after Done",
    );
    assert!(
        browser
            .text_of("#identities-table")
            .await
            .contains("billing-deployer")
    );

    // Added to the project as a member, then made a viewer.
    browser
        .goto(&format!("{ui}#/projects/{project}/members"))
        .await;
    browser.page("members").await;
    browser
        .select_label("#member-identity", "billing-deployer (machine)")
        .await;
    browser.select_value("#member-role", "member").await;
    browser.click("#member-submit").await;
    let row = format!("#members-table tr[data-identity-id='{deployer_id}']");
    browser.element(&row).await;
    assert_eq!(
        role_of(&dev, &token, &project, &deployer_id)
            .await
            .as_deref(),
        Some("member")
    );
    browser
        .select_value(&format!("{row} select.member-role"), "viewer")
        .await;
    browser.click(&format!("{row} .save-role")).await;
    let said = browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//div[@id='members-notice']//*[contains(., 'is now viewer')]",
        ))
        .await
        .expect("the change is said")
        .text()
        .await
        .expect("text");
    assert_eq!(said, "billing-deployer is now viewer.");
    assert_eq!(
        role_of(&dev, &token, &project, &deployer_id)
            .await
            .as_deref(),
        Some("viewer")
    );

    // A user, not only a machine identity, is added the same way (the picker names users by email).
    let (status, user) = dev
        .api(
            &token,
            reqwest::Method::POST,
            "/api/v1/identities",
            Some(serde_json::json!({
                "type": "user", "name": "ada", "email": "ada@example.com",
                "password": "correct-horse-battery-9",
            })),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["identity"]["id"].as_str().expect("id").to_owned();
    // Away and back, so the page lists the new identity.
    browser.click("#nav-connections").await;
    browser.page("connections").await;
    browser
        .goto(&format!("{ui}#/projects/{project}/members"))
        .await;
    browser.page("members").await;
    browser
        .select_label("#member-identity", "ada (ada@example.com)")
        .await;
    browser.select_value("#member-role", "viewer").await;
    browser.click("#member-submit").await;
    browser
        .element(&format!("#members-table tr[data-identity-id='{user_id}']"))
        .await;
    assert_eq!(
        role_of(&dev, &token, &project, &user_id).await.as_deref(),
        Some("viewer")
    );
    browser.accessible("the members with a new one").await;
    browser.screenshot("32-members").await;

    // Renamed: the header says the new name.
    browser.fill("#project-name", "billing-eu").await;
    browser.click("#project-save").await;
    browser.page("members").await;
    browser.element("#site-header .project-name").await;
    eventually("the rename", || async {
        browser
            .element("h1")
            .await
            .text()
            .await
            .is_ok_and(|t| t == "Members of billing-eu")
    })
    .await;
    let (_, fetched) = dev
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/projects/{project}"),
            None,
        )
        .await;
    assert_eq!(fetched["project"]["name"], "billing-eu");
    assert_eq!(fetched["project"]["description"], "Invoices");

    // Removed after confirming.
    browser
        .run("window.confirm = (m) => { window.asked = m; return true; }; return null;")
        .await;
    browser.click(&format!("{row} .remove-member")).await;
    eventually("the removal", || async { !browser.exists(&row).await }).await;
    assert_eq!(role_of(&dev, &token, &project, &deployer_id).await, None);

    // Deleted after confirming: back on the projects page, which no longer lists it.
    browser
        .run("window.confirm = (m) => { window.asked = m; return true; }; return null;")
        .await;
    browser.click("#delete-project").await;
    browser.page("projects").await;
    let asked = browser.run("return window.asked;").await;
    assert!(
        asked.as_str().is_some_and(|m| m.contains("billing-eu")),
        "{asked}"
    );
    let listed = browser.text_of("#project-list").await;
    assert!(!listed.contains("billing-eu"), "{listed}");
    let (status, _) = dev
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/projects/{project}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// The text of the `n`th file (from 1) the page offered for download (`URL.createObjectURL` is
/// watched), once it has been offered.
async fn downloaded(browser: &Browser, n: usize) -> String {
    let text = browser
        .client
        .execute_async(
            "const [n, done] = arguments; \
             const look = () => { const blobs = window.downloads || []; \
               if (blobs.length >= n) blobs[n - 1].text().then(done); else setTimeout(look, 50); }; \
             look();",
            vec![serde_json::json!(n)],
        )
        .await
        .expect("read the download");
    text.as_str().expect("a download").to_owned()
}

async fn rows_text(browser: &Browser) -> Vec<String> {
    let mut out = Vec::new();
    for row in browser
        .client
        .find_all(fantoccini::Locator::Css("#audit-table tr[data-audit-id]"))
        .await
        .expect("rows")
    {
        out.push(row.text().await.expect("row text"));
    }
    out
}

#[sqlx::test(migrations = false)]
async fn the_audit_log_is_filtered_named_exported_and_instance_wide(pool: PgPool) {
    let (dev, token, project) = dev_as_admin(&pool).await;
    dev.connection(&token, &project, "orders-auth0").await;
    dev.member(&token, &project, "auditor-bot", "viewer").await;
    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    browser.goto(&ui).await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("projects").await;
    browser
        .goto(&format!("{ui}#/projects/{project}/audit"))
        .await;
    browser.page("audit").await;
    browser.element("#audit-table tr[data-audit-id]").await;

    // Names instead of ids: the connection by its name, the actor by its identity's name.
    let rows = rows_text(&browser).await;
    let created = rows
        .iter()
        .find(|r| r.contains("app_connection.create"))
        .expect("the connection's creation");
    assert!(created.contains("orders-auth0"), "{created}");
    assert!(!created.contains('…'), "the actor is named: {created}");

    // The resource-type picker: memberships only, the member named.
    browser
        .select_value("#audit-resource-type", "membership")
        .await;
    browser.click("#audit-apply").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//table[@id='audit-table']//tr[@data-audit-id][contains(., 'membership.create')]",
        ))
        .await
        .expect("the membership event");
    let rows = rows_text(&browser).await;
    assert!(rows.iter().all(|r| r.contains("membership.")), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains("auditor-bot")), "{rows:?}");
    browser.accessible("the filtered audit log").await;
    browser.screenshot("34-audit-filtered").await;

    // Exported as the filters say, names resolved, CSV escaped.
    browser
        .run(
            "window.downloads = []; const make = URL.createObjectURL; \
             URL.createObjectURL = (b) => { window.downloads.push(b); return make(b); }; return null;",
        )
        .await;
    browser.click("#audit-export-csv").await;
    browser.element("#audit-export-status:not(:empty)").await;
    let csv = downloaded(&browser, 1).await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "time,actorType,actorId,actorName,action,resourceType,resourceId,resourceName,outcome,projectId,sourceIp,requestId,metadata"
        )
    );
    let body: Vec<&str> = lines.collect();
    assert!(!body.is_empty(), "{csv}");
    assert!(body.iter().all(|l| l.contains(",membership.")), "{csv}");
    assert!(csv.contains("auditor-bot"), "{csv}");
    // The metadata column is JSON with quotes: quoted, the quotes doubled.
    assert!(csv.contains("\"{\"\"role\"\":\"\"viewer\"\""), "{csv}");
    browser.click("#audit-export-json").await;
    let json: serde_json::Value =
        serde_json::from_str(&downloaded(&browser, 2).await).expect("json");
    assert_eq!(json["filters"]["resourceType"], "membership");
    let events = json["auditLogs"].as_array().expect("events");
    assert_eq!(events.len(), body.len());
    assert!(events.iter().all(|e| e["resource"]["type"] == "membership"));
    let escaped = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             import('./pages-audit.js').then((m) => done([m.csvField('a\"b,c'), m.csvField('=1+2'), m.csvField('x\\ny'), m.csvField('plain')]));",
            vec![],
        )
        .await
        .expect("csvField");
    assert_eq!(
        escaped,
        serde_json::json!(["\"a\"\"b,c\"", "'=1+2", "\"x\ny\"", "plain"])
    );

    // A date range: nothing on a day in the future; today's events with today as both ends.
    browser
        .run("document.getElementById('audit-from').value = '2999-01-01'; return null;")
        .await;
    browser.click("#audit-apply").await;
    let empty = browser.text_of(".list-message .alert").await;
    assert_eq!(empty, "No events match these filters.");
    browser
        .run(
            "const today = new Date().toISOString().slice(0, 10); \
             document.getElementById('audit-from').value = today; \
             document.getElementById('audit-to').value = today; return null;",
        )
        .await;
    browser.click("#audit-apply").await;
    browser.element("#audit-table tr[data-audit-id]").await;

    // Every filter is in the address: a reload (or a shared link) opens the same question.
    let today = browser
        .run("return new Date().toISOString().slice(0, 10);")
        .await;
    let today = today.as_str().expect("today").to_owned();
    let hash = browser.run("return location.hash;").await;
    let hash = hash.as_str().expect("hash");
    for part in [
        "resourceType=membership".to_owned(),
        format!("from={today}"),
        format!("to={today}"),
    ] {
        assert!(hash.contains(&part), "{part} in {hash}");
    }
    browser.client.refresh().await.expect("reload");
    browser.page("audit").await;
    browser.element("#audit-table tr[data-audit-id]").await;
    assert_eq!(
        property(&browser, "#audit-from", "value").await,
        today.as_str()
    );
    assert_eq!(
        property(&browser, "#audit-to", "value").await,
        today.as_str()
    );
    assert_eq!(
        property(&browser, "#audit-resource-type", "value").await,
        "membership"
    );
    let rows = rows_text(&browser).await;
    assert!(rows.iter().all(|r| r.contains("membership.")), "{rows:?}");
    // A day that is no date is left out rather than sent.
    browser
        .goto(&format!(
            "{ui}#/projects/{project}/audit?from=2026-02-30&to=x"
        ))
        .await;
    browser.client.refresh().await.expect("reload");
    browser.page("audit").await;
    browser.element("#audit-table tr[data-audit-id]").await;
    assert_eq!(property(&browser, "#audit-from", "value").await, "");
    assert_eq!(property(&browser, "#audit-to", "value").await, "");

    // The whole instance, for the instance admin: sign-ins included.
    browser.click("#audit-instance").await;
    browser.page("audit-all").await;
    browser.select_value("#audit-action", "auth.login").await;
    browser.click("#audit-apply").await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//table[@id='audit-table']//tr[@data-audit-id][contains(., 'auth.login')]",
        ))
        .await
        .expect("a sign-in");
    let rows = rows_text(&browser).await;
    assert!(rows.iter().all(|r| r.contains("auth.login")), "{rows:?}");
    browser.screenshot("35-audit-instance").await;
}

#[sqlx::test(migrations = false)]
async fn a_project_admin_manages_members_but_not_identities(pool: PgPool) {
    let (dev, token, project) = dev_as_admin(&pool).await;
    let (admin_id, admin_secret) = dev.member(&token, &project, "team-lead", "admin").await;
    // Someone to add: made by the instance admin, its id handed over.
    let (status, made) = dev
        .api(
            &token,
            Method::POST,
            "/api/v1/identities",
            Some(serde_json::json!({ "type": "machine", "name": "orders-app" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let newcomer = made["identity"]["id"].as_str().expect("id").to_owned();

    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    browser.goto(&ui).await;
    browser.sign_in(&admin_id, &admin_secret).await;
    browser.page("projects").await;
    browser.element("a.project-link").await;
    browser
        .offers_none(&["#nav-identities", "#nav-audit-all"])
        .await;

    // Members: a project admin cannot list identities, so pastes the id.
    browser.click("a.project-link").await;
    browser.page("connections").await;
    browser.click("#nav-members").await;
    browser.page("members").await;
    browser.element("#member-identity[type='text']").await;
    browser.fill("#member-identity", &newcomer).await;
    browser.select_value("#member-role", "member").await;
    browser.click("#member-submit").await;
    browser
        .element(&format!(
            "#members-table tr[data-identity-id='{newcomer}'] select.member-role"
        ))
        .await;
    assert_eq!(
        role_of(&dev, &token, &project, &newcomer).await.as_deref(),
        Some("member")
    );
    // An id that is no identity is refused at the field.
    browser
        .fill("#member-identity", "0192f6a0-3c1e-7a2b-9d4e-5f6a7b8c9d0e")
        .await;
    browser.click("#member-submit").await;
    let said = browser
        .text_of("[data-error-for='identityId']:not(:empty)")
        .await;
    assert!(!said.trim().is_empty());

    // What a member reaches: narrowed to dev at /orders from its row (no environment chosen is
    // said at the field), shown in the row and kept by the API; then widened again.
    let newcomer_row = format!("#members-table tr[data-identity-id='{newcomer}']");
    browser.click(&format!("{newcomer_row} .edit-access")).await;
    browser.click("#access-all-envs").await;
    browser.click("#access-save").await;
    browser
        .element("#access-form [data-error-for='environments']:not(:empty)")
        .await;
    browser.click("#access-env-dev").await;
    browser.fill("#access-path", "/orders").await;
    browser.accessible("the access editor").await;
    browser.screenshot("42-member-access").await;
    browser.click("#access-save").await;
    text_becomes(
        &browser,
        &format!("{newcomer_row} .reach"),
        "dev at /orders",
    )
    .await;
    let reach = |memberships: &serde_json::Value| {
        memberships["memberships"]
            .as_array()
            .expect("memberships")
            .iter()
            .find(|m| m["identityId"] == newcomer.as_str())
            .map(|m| (m["environments"].clone(), m["secretPath"].clone()))
            .expect("listed")
    };
    let memberships = format!("/api/v1/projects/{project}/memberships");
    let (_, listed) = dev.api(&token, Method::GET, &memberships, None).await;
    assert_eq!(
        reach(&listed),
        (serde_json::json!(["dev"]), serde_json::json!("/orders"))
    );
    browser.click(&format!("{newcomer_row} .edit-access")).await;
    assert_eq!(property(&browser, "#access-path", "value").await, "/orders");
    browser.click("#access-all-envs").await;
    browser.fill("#access-path", "").await;
    browser.click("#access-save").await;
    eventually("the member widened again", || async {
        !browser.exists(&format!("{newcomer_row} .reach")).await
    })
    .await;
    let (_, listed) = dev.api(&token, Method::GET, &memberships, None).await;
    assert_eq!(
        reach(&listed),
        (serde_json::Value::Null, serde_json::Value::Null)
    );

    // The project's log, but not the instance's, and no identities.
    browser.click("#nav-audit").await;
    browser.page("audit").await;
    browser.element("#audit-table tr[data-audit-id]").await;
    browser.offers_none(&["#audit-instance"]).await;
    browser.goto(&format!("{ui}#/audit")).await;
    browser.page("audit-all").await;
    browser.offers_none(&["#audit-table"]).await;
    browser.goto(&format!("{ui}#/identities")).await;
    browser.page("identities").await;
    browser
        .offers_none(&["#identity-form", "#identities-table"])
        .await;

    // Demoting oneself: the page is drawn again for the new role, with nothing left to change.
    let (_, identities) = dev
        .api(&token, Method::GET, "/api/v1/identities?limit=500", None)
        .await;
    let me = identities["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .find(|i| i["name"] == "team-lead")
        .expect("listed")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    browser
        .goto(&format!("{ui}#/projects/{project}/members"))
        .await;
    browser.page("members").await;
    // The last admin cannot step down: someone else becomes admin first.
    let theirs = format!("#members-table tr[data-identity-id='{newcomer}']");
    browser
        .select_value(&format!("{theirs} select.member-role"), "admin")
        .await;
    browser.click(&format!("{theirs} .save-role")).await;
    browser
        .client
        .wait()
        .at_most(browser::PAGE_WAIT)
        .for_element(fantoccini::Locator::XPath(
            "//div[@id='members-notice']//*[contains(., 'orders-app is now admin')]",
        ))
        .await
        .expect("orders-app made admin");
    let row = format!("#members-table tr[data-identity-id='{me}']");
    browser
        .select_value(&format!("{row} select.member-role"), "viewer")
        .await;
    browser.click(&format!("{row} .save-role")).await;
    eventually("the page drawn for a viewer", || async {
        !browser.exists("#member-form").await && browser.exists("#members-table").await
    })
    .await;
    let badge = browser.text_of("#site-header .project-name .badge").await;
    assert_eq!(badge, "viewer");
    browser
        .offers_none(&[
            ".save-role",
            ".remove-member",
            "#project-form",
            "#nav-audit",
        ])
        .await;
    assert_eq!(
        role_of(&dev, &token, &project, &me).await.as_deref(),
        Some("viewer")
    );
}

/// The value of a property of the element `css` in the page (`value`, …), as a script reads it.
async fn property(browser: &Browser, css: &str, name: &str) -> serde_json::Value {
    browser
        .client
        .execute(
            "const el = document.querySelector(arguments[0]); return el ? el[arguments[1]] : null;",
            vec![serde_json::json!(css), serde_json::json!(name)],
        )
        .await
        .expect("script")
}

/// `getComputedStyle(css)[name]`.
async fn computed(browser: &Browser, css: &str, name: &str) -> String {
    browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]];",
            vec![serde_json::json!(css), serde_json::json!(name)],
        )
        .await
        .expect("script")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrations = false)]
async fn a_refused_form_says_each_problem_once_at_its_field_and_keeps_the_secret(pool: PgPool) {
    let (dev, token, project) = dev_as_admin(&pool).await;
    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);

    // The empty connections page says what to do, with the API's capability → scopes table.
    browser
        .goto(&format!("{ui}#/projects/{project}/connections"))
        .await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("connections").await;
    let (status, options) = dev
        .api(&token, Method::GET, "/api/v1/app-connections/options", None)
        .await;
    assert_eq!(status, 200, "{options}");
    let table = options["appConnectionOptions"][0]["capabilities"]
        .as_array()
        .expect("capabilities")
        .clone();
    count(&browser, "#scope-guide tbody tr", table.len()).await;
    let guide = browser.text_of("#scope-guide").await;
    for capability in &table {
        for scope in capability["requiredScopes"].as_array().expect("scopes") {
            assert!(
                guide.contains(scope.as_str().expect("scope")),
                "{scope} missing: {guide}"
            );
        }
    }
    let hint = browser.text_of("#grant-hint").await;
    assert!(
        hint.starts_with("auth0 api post client-grants") && hint.contains("update:client_keys"),
        "{hint}"
    );
    browser.click("#copy-grant-hint").await;
    text_becomes(&browser, "#grant-hint-status", "Copied.").await;
    browser.screenshot("19-connections-empty").await;

    dev.connection(&token, &project, "taken").await;
    browser
        .goto(&format!("{ui}#/projects/{project}/connections/new"))
        .await;
    browser.page("connection-new").await;
    // The invalid state shows: the danger border, not the plain one it used to lose to.
    let plain = computed(&browser, "#name", "borderTopColor").await;
    browser.click("#connection-submit").await;
    browser.element("#name[aria-invalid='true']").await;
    let invalid = computed(&browser, "#name", "borderTopColor").await;
    assert_eq!(invalid, "rgb(180, 35, 24)", "was {plain}");
    assert_ne!(invalid, plain);
    // Each message once, at its field; the summary links to the fields by their labels.
    let summary = browser.text_of("#form-error").await;
    let at_name = browser.text_of("[data-error-for='name']").await;
    assert!(!at_name.is_empty());
    assert!(!summary.contains(&at_name), "{summary}");
    for link in ["#name", "#domain", "#clientId", "#clientSecret"] {
        assert!(
            browser
                .exists(&format!("#form-error a[href='{link}']"))
                .await,
            "no link to {link}: {summary}"
        );
    }
    browser.click("#form-error a[href='#clientId']").await;
    assert_eq!(
        browser.run("return document.activeElement.id;").await,
        "clientId"
    );
    assert_eq!(
        browser.run("return location.hash;").await,
        format!("#/projects/{project}/connections/new")
    );

    // A taken name: said at the name, no raw field path, and the secret is still there.
    browser.fill("#name", "taken").await;
    browser.fill("#domain", DEMO_DOMAIN).await;
    browser.fill("#clientId", DEMO_CLIENT_ID).await;
    browser.fill("#clientSecret", &dev.demo_secret).await;
    browser.click("#connection-submit").await;
    let said = browser.text_of("[data-error-for='name']:not(:empty)").await;
    let summary = browser.text_of("#form-error").await;
    assert!(!summary.contains(&said), "said twice: {summary}");
    assert!(!summary.contains("name:"), "{summary}");
    assert!(
        browser.exists("#form-error a[href='#name']").await,
        "{summary}"
    );
    assert_eq!(
        property(&browser, "#clientSecret", "value").await,
        dev.demo_secret.as_str()
    );
    assert_eq!(
        browser.run("return document.activeElement.id;").await,
        "name"
    );
    browser.screenshot("17-connection-name-taken").await;

    // A bad domain: also not the secret's fault.
    browser.fill("#name", "fresh").await;
    browser.fill("#domain", "not a domain").await;
    browser.click("#connection-submit").await;
    browser
        .element("[data-error-for='credentials.domain']:not(:empty)")
        .await;
    let summary = browser.text_of("#form-error").await;
    assert!(!summary.contains("credentials."), "{summary}");
    assert_eq!(
        property(&browser, "#clientSecret", "value").await,
        dev.demo_secret.as_str()
    );

    // A wrong secret: the secret is at fault, so it goes.
    browser.fill("#domain", DEMO_DOMAIN).await;
    browser
        .fill(
            "#clientSecret",
            "wrong-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        )
        .await;
    browser.click("#connection-submit").await;
    browser
        .element("[data-error-for='credentials.clientSecret']:not(:empty)")
        .await;
    assert_eq!(property(&browser, "#clientSecret", "value").await, "");
}

/// The text of `css`, waiting until it is `expected`.
async fn text_becomes(browser: &Browser, css: &str, expected: &str) {
    let started = std::time::Instant::now();
    loop {
        let text = browser.element(css).await.text().await.unwrap_or_default();
        if text.trim() == expected {
            return;
        }
        assert!(
            started.elapsed() < browser::PAGE_WAIT,
            "{css} says {text:?}, not {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

const FIRST_ROW: &str = "#connections-table tbody tr:first-child th";

async fn first_row(browser: &Browser) -> String {
    browser
        .text_of("#connections-table tbody tr[data-connection-id] th")
        .await
}

async fn focused(browser: &Browser) -> serde_json::Value {
    browser.run("return document.activeElement.id;").await
}

#[sqlx::test(migrations = false)]
async fn long_lists_keep_their_place_in_the_address_and_the_keyboard_focus(pool: PgPool) {
    let (dev, token, project) = dev_as_admin(&pool).await;
    // 251 connections, three pages of 100: one real, the rest cloned in SQL as the UI benchmark does.
    let source = dev.connection(&token, &project, "a-first").await;
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, app, method, name, description, domain, \
           client_id, audience, client_secret_sealed, version, created_at, updated_at, scope_check, scope_checked_at) \
         select gen_random_uuid(), s.org_id, s.project_id, s.app, s.method, 'c-' || lpad(g::text, 6, '0'), \
           s.description, s.domain, s.client_id, s.audience, s.client_secret_sealed, 1, s.created_at, \
           s.updated_at, s.scope_check, s.scope_checked_at \
         from app_connections s cross join generate_series(1, 250) g where s.id = $1::uuid",
    )
    .bind(&source)
    .execute(&pool)
    .await
    .expect("clone");
    // Three lack a scope at their last check; every other one has all it needs.
    sqlx::query(
        "update app_connections set scope_check = case when name in ('c-000001', 'c-000002', 'c-000003') \
           then '{\"validate\": [], \"tokenVault\": [\"create:clients\"]}'::jsonb \
           else '{\"validate\": [], \"tokenVault\": []}'::jsonb end",
    )
    .execute(&pool)
    .await
    .expect("scope checks");

    let browser = Browser::start(1280, 800).await;
    let ui = format!("{}/ui/", dev.base);
    let list = format!("{ui}#/projects/{project}/connections");
    browser.goto(&list).await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("connections").await;
    count(&browser, "#connections-table tbody tr", 100).await;
    assert_eq!(first_row(&browser).await, "a-first");
    // The total, from the API's count of every match.
    text_becomes(&browser, "#connections-table-count", "251 connections").await;
    text_becomes(&browser, "#page-number", "Page 1 of 3").await;

    // One compact capability summary per row, not a badge per capability.
    count(
        &browser,
        "#connections-table tbody tr td:last-child .badge",
        100,
    )
    .await;
    let summary = browser
        .text_of("#connections-table tbody tr:first-child td:last-child .badge")
        .await;
    let (counts, rest) = summary.split_once(" · ").expect("n/m · …");
    let (usable, all) = counts.split_once('/').expect("n/m");
    let (usable, all): (usize, usize) = (usable.parse().expect("n"), all.parse().expect("m"));
    assert!(usable <= all && all >= 1, "{summary}");
    assert!(
        if usable == all {
            rest == "all usable"
        } else {
            rest.starts_with("missing: ")
        },
        "{summary}"
    );

    // A pager above the table as well as below; Enter on Next keeps the focus on Next.
    assert!(browser.exists("#next-page-top").await);
    browser
        .element("#next-page")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("Enter");
    text_becomes(&browser, "#page-number", "Page 2 of 3").await;
    // The number changes as the page is asked for; the rows when it arrives.
    text_becomes(&browser, FIRST_ROW, "c-000100").await;
    count(&browser, "#connections-table tbody tr", 100).await;
    let second = first_row(&browser).await;
    assert_eq!(focused(&browser).await, "next-page");
    let hash = browser.run("return location.hash;").await;
    let hash = hash.as_str().expect("hash");
    assert!(
        hash.contains("page=2") && hash.contains("cursor="),
        "{hash}"
    );

    // The top pager, to the last page: Next is done, so the focus moves to its Previous.
    browser
        .element("#next-page-top")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("Enter");
    text_becomes(&browser, "#page-number-top", "Page 3 of 3").await;
    text_becomes(&browser, FIRST_ROW, "c-000200").await;
    count(&browser, "#connections-table tbody tr", 51).await;
    assert_eq!(focused(&browser).await, "prev-page-top");

    // Back steps back a page; a reload stays on it, and Previous still works after the reload.
    browser.client.back().await.expect("back");
    text_becomes(&browser, "#page-number", "Page 2 of 3").await;
    text_becomes(&browser, FIRST_ROW, &second).await;
    count(&browser, "#connections-table tbody tr", 100).await;
    browser.client.refresh().await.expect("reload");
    browser.page("connections").await;
    text_becomes(&browser, "#page-number", "Page 2 of 3").await;
    text_becomes(&browser, FIRST_ROW, &second).await;
    count(&browser, "#connections-table tbody tr", 100).await;
    browser.click("#prev-page").await;
    text_becomes(&browser, "#page-number", "Page 1 of 3").await;
    text_becomes(&browser, FIRST_ROW, "a-first").await;
    count(&browser, "#connections-table tbody tr", 100).await;
    browser.client.back().await.expect("back");
    text_becomes(&browser, "#page-number", "Page 2 of 3").await;
    text_becomes(&browser, FIRST_ROW, &second).await;

    // The "missing a scope" filter: in the address too, and counted.
    browser.goto(&list).await;
    browser.page("connections").await;
    browser.click("#connection-missing-scope").await;
    count(&browser, "#connections-table tbody tr", 3).await;
    text_becomes(&browser, "#connections-table-count", "3 connections").await;
    text_becomes(
        &browser,
        "#connections-table tbody tr:first-child td:last-child",
        "1/2 · missing: token vault",
    )
    .await;
    browser.client.refresh().await.expect("reload");
    browser.page("connections").await;
    count(&browser, "#connections-table tbody tr", 3).await;
    assert_eq!(
        property(&browser, "#connection-missing-scope", "checked").await,
        true
    );

    // The search is in the address too, and a reload keeps it.
    browser.goto(&list).await;
    browser.page("connections").await;
    browser.fill("#connection-search", "c-00012").await;
    count(&browser, "#connections-table tbody tr", 10).await;
    text_becomes(&browser, "#connections-table-count", "10 connections").await;
    text_becomes(&browser, "#page-number", "Page 1 of 1").await;
    let hash = browser.run("return location.hash;").await;
    assert!(
        hash.as_str().is_some_and(|h| h.contains("search=c-00012")),
        "{hash}"
    );
    browser.client.refresh().await.expect("reload");
    browser.page("connections").await;
    count(&browser, "#connections-table tbody tr", 10).await;
    assert_eq!(
        property(&browser, "#connection-search", "value").await,
        "c-00012"
    );

    // At 390 px the rows become cards: nothing scrolls sideways, the capabilities are in view.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    let fits = browser
        .run(
            "const wrap = document.querySelector('#connections-table').closest('.table-wrap'); \
             const cell = document.querySelector('#connections-table tbody tr td:last-child'); \
             return { page: document.documentElement.scrollWidth <= window.innerWidth, \
                      table: wrap.scrollWidth <= wrap.clientWidth, \
                      cell: cell.getBoundingClientRect().right <= window.innerWidth, \
                      width: window.innerWidth };",
        )
        .await;
    assert_eq!(fits["page"], true, "{fits}");
    assert_eq!(fits["table"], true, "{fits}");
    assert_eq!(fits["cell"], true, "{fits}");
    browser.screenshot("18-connections-390px").await;
    browser
        .client
        .set_window_size(1280, 800)
        .await
        .expect("resize");

    // The rotation form's connection picker narrows to what is typed (to the real connection:
    // the clones' sealed secrets are bound to the row they were sealed for, so they cannot call Auth0).
    browser
        .goto(&format!("{ui}#/projects/{project}/rotations/new"))
        .await;
    browser.page("rotation-new").await;
    browser
        .fill("#rotation-connection-filter", "c-000125")
        .await;
    let shown = browser
        .run(
            "return [...document.querySelectorAll('#rotation-connection option')] \
               .filter((o) => o.value && !o.hidden).map((o) => o.textContent);",
        )
        .await;
    assert_eq!(shown, serde_json::json!(["c-000125"]));
    browser.fill("#rotation-connection-filter", "FIRST").await;
    browser
        .element("#rotation-connection-filter")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("Enter");
    browser
        .element(&format!(
            "#rotation-client option[value='{DEMO_TARGET_ID}']"
        ))
        .await;
    assert_eq!(focused(&browser).await, "rotation-connection");
}

/// A Private Key JWT connection made through the form (its public key shown, copyable, and on
/// its page; no secret field, no private key). Then a Private Key JWT rotation made through the
/// form: the type chosen, an overlap checked as the
/// API checks it (and said at its field), the private key and key ID mapped to project secrets;
/// once the worker has enabled the new key beside the old one, the page counts the overlap down
/// live, offers no reveal, and no private key ever reaches it.
#[sqlx::test(migrations = false)]
async fn private_key_jwt_connections_and_key_rotations_through_the_forms(pool: PgPool) {
    let (dev, admin_token, project) = dev_as_admin(&pool).await;
    dev.connection(&admin_token, &project, "orders-auth0").await;
    let browser = Browser::start(1280, 800).await;
    browser
        .goto(&format!(
            "{}/ui/#/projects/{project}/connections/new",
            dev.base
        ))
        .await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("connection-new").await;

    // A Private Key JWT connection: no secret to paste, an optional connection to register through.
    assert!(browser.exists(".field[hidden] #registerWith").await);
    browser.select_value("#method", "private-key-jwt").await;
    assert!(browser.exists(".field[hidden] #clientSecret").await);
    let registrars = browser
        .run("return [...document.querySelectorAll('#registerWith option')].map((o) => o.textContent);")
        .await;
    assert_eq!(
        registrars,
        serde_json::json!([
            "None: I register the public key in Auth0 myself",
            format!("orders-auth0 ({DEMO_DOMAIN})")
        ])
    );
    browser.fill("#name", "orders-keyed").await;
    browser.fill("#domain", DEMO_DOMAIN).await;
    browser.fill("#clientId", DEMO_CLIENT_ID).await;
    browser.click("#connection-submit").await;
    // Created pending: the public key to copy, its kid, and what to do next.
    let pem = browser.text_of("#public-key-pem").await;
    assert!(
        pem.trim().starts_with("-----BEGIN PUBLIC KEY-----")
            && pem.trim().ends_with("-----END PUBLIC KEY-----"),
        "{pem}"
    );
    let steps = browser.text_of("#next-steps").await;
    assert!(
        steps.contains("Check scopes") && steps.contains(DEMO_CLIENT_ID),
        "{steps}"
    );
    browser.click("#copy-public-key").await;
    browser
        .element("#copy-public-key-status[data-copied='true']")
        .await;
    let created_key = browser.text_of("#public-key").await;
    browser.screenshot("key-connection-created").await;
    assert!(!browser.everything_visible().await.contains("PRIVATE KEY"));
    // The same key and kid as the API holds.
    let (status, listed) = dev
        .api(
            &admin_token,
            Method::GET,
            &format!("/api/v1/app-connections/auth0?projectId={project}&search=orders-keyed"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let stored = &listed["appConnections"][0];
    assert_eq!(stored["status"], "pending-registration", "{listed}");
    let kid = stored["publicKey"]["kid"].as_str().expect("kid");
    assert!(created_key.contains(kid), "{created_key}");
    assert_eq!(
        pem.trim(),
        stored_pem(&dev, &admin_token, stored).await.trim()
    );

    // Its page: method, pending status, the public key and kid; nothing about a secret.
    browser.click("#open-connection").await;
    browser.page("connection-detail").await;
    let detail = browser.text_of("#connection-detail").await;
    assert!(
        detail.contains("Private Key JWT")
            && detail.contains("pending registration")
            && !detail.contains("Client secret"),
        "{detail}"
    );
    let shown = browser.text_of("#public-key").await;
    assert!(
        shown.contains(kid) && shown.contains("BEGIN PUBLIC KEY"),
        "{shown}"
    );
    assert!(!browser.everything_visible().await.contains("PRIVATE KEY"));

    browser
        .goto(&format!(
            "{}/ui/#/projects/{project}/rotations/new",
            dev.base
        ))
        .await;
    browser.page("rotation-new").await;

    // The client-secret type is the default: no overlap, a client secret to map.
    assert!(browser.exists(".field[hidden] #rotation-overlap").await);
    assert!(
        !browser
            .exists(".field[hidden] #rotation-map-client-secret")
            .await
    );
    browser
        .select_value("#rotation-type", "auth0-private-key-jwt")
        .await;
    assert!(!browser.exists(".field[hidden] #rotation-overlap").await);
    assert!(
        browser
            .exists(".field[hidden] #rotation-map-client-secret")
            .await
    );
    assert!(!browser.exists("#rotation-key-mapping[hidden]").await);

    browser.fill("#rotation-name", "orders-keys").await;
    browser
        .select_label("#rotation-connection", "orders-auth0")
        .await;
    browser
        .element(&format!(
            "#rotation-client option[value='{DEMO_TARGET_ID}']"
        ))
        .await
        .click()
        .await
        .expect("pick the client");
    browser
        .element("#rotation-environment option[value='dev']")
        .await;
    browser
        .fill("#rotation-map-client-id", "ORDERS_AUTH0_CLIENT_ID")
        .await;
    browser
        .fill("#rotation-map-private-key", "ORDERS_AUTH0_PRIVATE_KEY")
        .await;
    browser
        .fill("#rotation-map-key-id", "ORDERS_AUTH0_KEY_ID")
        .await;

    // 30 seconds is under the API's minimum: said at the overlap field, nothing sent.
    browser.select_value("#rotation-overlap-unit", "1").await;
    browser.fill("#rotation-overlap", "30").await;
    browser.click("#rotation-submit").await;
    let said = browser
        .text_of("[data-error-for='parameters.overlapSeconds']:not(:empty)")
        .await;
    assert!(said.contains("60 seconds"), "{said}");
    assert_eq!(
        browser
            .element("#rotation-overlap")
            .await
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    browser.page("rotation-new").await;

    // Two hours.
    browser.select_value("#rotation-overlap-unit", "3600").await;
    browser.fill("#rotation-overlap", "2").await;
    browser.click("#rotation-submit").await;
    browser.page("rotation-detail").await;

    // Once the worker has enabled the new key, the countdown appears and runs.
    let first = browser
        .text_of("#rotation-overlap[data-overlap-until]:not([hidden])")
        .await;
    assert!(
        first.contains("old key removed in 1 h 59 min")
            || first.contains("old key removed in 2 h 0 min"),
        "{first}"
    );
    let ticks = browser
        .run(
            "const el = document.querySelector('#rotation-overlap'); const before = el.textContent; \
             const until = Date.parse(el.dataset.overlapUntil); \
             return [before, Math.round((until - Date.now()) / 1000)];",
        )
        .await;
    let left = ticks[1].as_i64().expect("seconds left");
    assert!((7000..=7200).contains(&left), "{ticks}");
    let detail = browser.text_of("#rotation-detail").await;
    assert!(
        detail.contains("private key JWT")
            && detail.contains("2 h")
            && detail.contains("ORDERS_AUTH0_PRIVATE_KEY, ORDERS_AUTH0_KEY_ID"),
        "{detail}"
    );
    // The countdown is live: it repaints from the clock each second. Moved on an hour, the page's
    // clock shows under an hour left, to the second, without a reload.
    browser
        .run(
            "const real = Date.now; window.realNow = real; Date.now = () => real.call(Date) + 3600 * 1000; return null;",
        )
        .await;
    text_contains(&browser, "#rotation-overlap", "old key removed in 59 min").await;
    browser
        .run("Date.now = window.realNow; return Date.now() > 0;")
        .await;
    text_contains(
        &browser,
        "#rotation-overlap",
        "old key removed in 1 h 59 min",
    )
    .await;
    browser.screenshot("key-rotation-overlap").await;
    // The attempt is not over until the old key is removed: no second rotation meanwhile (the API
    // refuses one), so the page does not offer it.
    browser.element("#rotate-now[disabled]").await;
    let rotation_id = browser.run("return location.hash.split('/').pop();").await;
    let rotation_id = rotation_id.as_str().expect("rotation id");
    let (status, refused) = dev
        .api(
            &admin_token,
            Method::POST,
            &format!("/api/v2/secret-rotations/auth0-private-key-jwt/{rotation_id}/rotate-secrets"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    // No reveal for a key rotation, and no private key in the page.
    browser
        .offers_none(&["#reveal-credentials", "#reveal-reason"])
        .await;
    assert!(!browser.everything_visible().await.contains("PRIVATE KEY"));

    // The list says each rotation's type.
    browser
        .goto(&format!("{}/ui/#/projects/{project}/rotations", dev.base))
        .await;
    browser.page("rotations").await;
    let row = browser
        .text_of("#rotations-table tr[data-rotation-type='auth0-private-key-jwt']")
        .await;
    assert!(
        row.contains("orders-keys") && row.contains("private key JWT"),
        "{row}"
    );
    assert!(!browser.everything_visible().await.contains("PRIVATE KEY"));
    // So does the page of the connection it acts through.
    browser
        .click("#rotations-table tr[data-rotation-type='auth0-private-key-jwt'] td a")
        .await;
    browser.page("connection-detail").await;
    let through = browser
        .text_of("#connection-rotations tr[data-rotation-id]")
        .await;
    assert!(
        through.contains("orders-keys") && through.contains("private key JWT"),
        "{through}"
    );

    // The worker wrote the key where the mapping says: the secret exists (read through the API).
    let (status, secrets) = dev
        .api(
            &admin_token,
            Method::GET,
            &format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev&secretPath=%2F"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{secrets}");
    let names: Vec<&str> = secrets["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s["secretKey"].as_str())
        .collect();
    assert!(
        names.contains(&"ORDERS_AUTH0_PRIVATE_KEY") && names.contains(&"ORDERS_AUTH0_KEY_ID"),
        "{names:?}"
    );
}

/// A Private Key JWT connection registered in Auth0 through another connection of the project,
/// picked in the form: Keyhold adds the public key to the application itself, so the page says
/// so instead of the manual steps, and Auth0 holds the very key the page shows.
#[sqlx::test(migrations = false)]
async fn a_key_connection_is_registered_through_another_connection_from_the_form(pool: PgPool) {
    let (dev, admin_token, project) = dev_as_admin(&pool).await;
    let registrar = dev.connection(&admin_token, &project, "orders-auth0").await;
    let browser = Browser::start(1280, 800).await;
    browser
        .goto(&format!(
            "{}/ui/#/projects/{project}/connections/new",
            dev.base
        ))
        .await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("connection-new").await;
    browser.select_value("#method", "private-key-jwt").await;
    browser.fill("#name", "orders-service-keyed").await;
    browser.fill("#domain", DEMO_DOMAIN).await;
    browser.fill("#clientId", DEMO_TARGET_ID).await;
    browser.select_value("#registerWith", &registrar).await;
    browser.click("#connection-submit").await;
    let steps = browser.text_of("#next-steps").await;
    browser.screenshot("key-connection-registered").await;
    let pem = browser.text_of("#public-key-pem").await;
    assert!(!browser.everything_visible().await.contains("PRIVATE KEY"));
    // The demo tenant grants the orders service no Management API access: Keyhold registered the
    // key but cannot use it yet, and says why and what to do instead of the manual steps.
    assert!(
        steps.contains("registered the public key in Auth0 through the other connection")
            && steps.contains("not authorized for the API")
            && steps.contains("Check scopes")
            && !steps.contains("Copy the public key"),
        "{steps}"
    );
    let (status, listed) = dev
        .api(
            &admin_token,
            Method::GET,
            &format!(
                "/api/v1/app-connections/auth0?projectId={project}&search=orders-service-keyed"
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let stored = &listed["appConnections"][0];
    assert_eq!(stored["status"], "pending-registration", "{listed}");
    assert_eq!(
        pem.trim(),
        stored_pem(&dev, &admin_token, stored).await.trim()
    );
    // The registration is audited with the connection it went through.
    let (status, audit) = dev
        .api(
            &admin_token,
            Method::GET,
            &format!(
                "/api/v1/audit-logs?projectId={project}&resourceId={}",
                stored["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    assert!(
        audit["auditLogs"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|row| row["metadata"]["registerWith"] == registrar.as_str()),
        "{audit}"
    );
}

/// A key rotation with the shortest overlap (60 s): the page counts down to the second, says when
/// the overlap has ended, and once the worker has removed the old key drops the countdown and shows
/// the finished rotation, without a reload.
#[sqlx::test(migrations = false)]
async fn the_overlap_countdown_ends_when_the_old_key_is_removed(pool: PgPool) {
    let (dev, admin_token, project) = dev_as_admin(&pool).await;
    let connection = dev.connection(&admin_token, &project, "orders-auth0").await;
    let (status, created) = dev
        .api(
            &admin_token,
            Method::POST,
            "/api/v2/secret-rotations/auth0-private-key-jwt",
            Some(serde_json::json!({
                "name": "orders-keys", "projectId": project, "connectionId": connection,
                "rotationInterval": 1, "isAutoRotationEnabled": false,
                "parameters": { "clientId": DEMO_TARGET_ID, "overlapSeconds": 60 },
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["secretRotation"]["id"].as_str().expect("id");
    let browser = Browser::start(1280, 800).await;
    browser
        .goto(&format!(
            "{}/ui/#/projects/{project}/rotations/{id}",
            dev.base
        ))
        .await;
    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("rotation-detail").await;
    let counting = browser
        .text_of("#rotation-overlap[data-overlap-until]:not([hidden])")
        .await;
    assert!(counting.contains("old key removed in "), "{counting}");
    assert!(
        counting.contains(" s (at "),
        "to the second under a minute: {counting}"
    );
    // The overlap ends, the worker removes the old key, and the page follows by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut said_ended = false;
    loop {
        let state = browser
            .run(
                "const el = document.querySelector('#rotation-overlap'); \
                 return [el.hidden, el.textContent, document.querySelector('#rotation-status').textContent];",
            )
            .await;
        said_ended |= state[1]
            .as_str()
            .is_some_and(|t| t.contains("overlap has ended"));
        if state[0] == true && state[2] == "success" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{state}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(said_ended, "the page never said the overlap had ended");
    assert!(browser.exists("#rotate-now:not([disabled])").await);
    let (status, rotation) = dev
        .api(
            &admin_token,
            Method::GET,
            &format!("/api/v2/secret-rotations/auth0-private-key-jwt/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotation}");
    assert!(
        rotation["secretRotation"].get("overlapUntil").is_none(),
        "{rotation}"
    );
    assert!(!browser.everything_visible().await.contains("PRIVATE KEY"));
}

/// Waits until `css`'s text contains `expected`.
async fn text_contains(browser: &Browser, css: &str, expected: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = browser.element(css).await.text().await.expect("text");
        if text.contains(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} says {text:?}, not {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

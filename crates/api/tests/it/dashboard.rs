//! What the web dashboard needs from the API (the caller's role per project, the last scope check
//! on every connection, a resource's audit history) and how `/ui/` itself is served.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::support::TestApp;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn projects_carry_the_callers_role(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let viewer = app
        .identity("viewer", Some((&app.project_id, "viewer")))
        .await;
    let listed = app
        .call_as(
            Some(&viewer.token),
            Method::GET,
            "/api/v1/projects",
            None,
            &[],
        )
        .await;
    assert_eq!(listed.json["projects"][0]["role"], "viewer");
    let path = format!("/api/v1/projects/{}", app.project_id);
    let one = app
        .call_as(Some(&viewer.token), Method::GET, &path, None, &[])
        .await;
    assert_eq!(one.json["project"]["role"], "viewer");
    // Instance admins act as admins everywhere; a project's creator is its admin.
    let as_admin = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(as_admin.json["project"]["role"], "admin");
    let created = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "another" })),
            &[],
        )
        .await;
    assert_eq!(created.json["project"]["role"], "admin");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn connections_keep_their_last_scope_check(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("checked").await;
    let check = &created["scopeCheck"];
    assert_eq!(check["capabilities"]["listClients"], json!([]));
    assert_eq!(check["capabilities"]["readUsers"], json!(["read:users"]));
    let first_checked = check["checkedAt"].as_str().expect("checkedAt").to_owned();

    let id = created["id"].as_str().expect("id");
    // Lists show it without asking Auth0 per row.
    let list = app
        .call(
            Method::GET,
            &format!("/api/v1/app-connections/auth0?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    // A list row names the usable capabilities and those lacking a scope; which scopes they lack
    // is on the connection's own GET.
    let row = &list.json["appConnections"][0];
    assert_eq!(row["scopeSummary"]["checkedAt"], check["checkedAt"]);
    let capabilities = check["capabilities"].as_object().expect("capabilities");
    for (key, usable) in [("usable", true), ("lacking", false)] {
        let mut expected: Vec<&str> = capabilities
            .iter()
            .filter(|(_, missing)| missing.as_array().is_some_and(Vec::is_empty) == usable)
            .map(|(name, _)| name.as_str())
            .collect();
        expected.sort_unstable();
        assert_eq!(row["scopeSummary"][key], json!(expected), "{}", list.text);
    }
    assert!(row.get("scopeCheck").is_none(), "{}", list.text);
    assert!(!list.text.contains("read:users"), "{}", list.text);

    // A partial validate refreshes what it checked, keeps the rest, and is not a change.
    let validated = app
        .call(
            Method::POST,
            &format!("/api/v1/app-connections/auth0/{id}/validate?capabilities=readUsers"),
            None,
            &[],
        )
        .await;
    assert_eq!(validated.status, StatusCode::OK, "{}", validated.text);
    let after = app
        .call(
            Method::GET,
            &format!("/api/v1/app-connections/auth0/{id}"),
            None,
            &[],
        )
        .await;
    let connection = &after.json["appConnection"];
    assert_eq!(connection["version"], created["version"]);
    assert_eq!(connection["updatedAt"], created["updatedAt"]);
    let now_checked = connection["scopeCheck"]["checkedAt"].as_str().expect("at");
    assert!(
        now_checked > first_checked.as_str(),
        "{now_checked} after {first_checked}"
    );
    assert_eq!(
        connection["scopeCheck"]["capabilities"],
        check["capabilities"]
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn audit_logs_filter_by_resource(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first = app.create("first").await;
    app.create("second").await;
    let id = first["id"].as_str().expect("id");
    app.call(
        Method::PATCH,
        &format!("/api/v1/app-connections/auth0/{id}"),
        Some(json!({ "description": "renamed" })),
        &[],
    )
    .await;
    let history = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/audit-logs?projectId={}&resourceId={id}",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    let actions: Vec<&str> = history.json["auditLogs"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            assert_eq!(e["resource"]["id"], id);
            e["action"].as_str().expect("action")
        })
        .collect();
    assert_eq!(actions, ["app_connection.update", "app_connection.create"]);
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> axum::response::Response {
    let mut request = Request::builder().method(Method::GET).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

async fn text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_dashboard_is_served_with_a_strict_policy(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let redirect = get(&app, "/ui", &[]).await;
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()[header::LOCATION], "/ui/");

    let page = get(&app, "/ui/", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp} lacks {directive}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // Every file the page names is served from here, with the type its extension says.
    let html = text(page).await;
    let mut referenced = 0;
    for name in api::ui::ASSETS.iter().map(|(name, _)| *name) {
        if !html.contains(&format!("./{name}")) {
            continue;
        }
        referenced += 1;
        let asset = get(&app, &format!("/ui/{name}"), &[]).await;
        assert_eq!(asset.status(), StatusCode::OK, "{name}");
        let etag = asset.headers()[header::ETAG]
            .to_str()
            .expect("etag")
            .to_owned();
        // Revalidation is cheap: a matching ETag answers 304 with no body.
        let again = get(&app, &format!("/ui/{name}"), &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name}");
    }
    assert!(referenced >= 2, "index.html names no script or stylesheet");
    assert_eq!(
        get(&app, "/ui/missing.js", &[]).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn the_dashboard_keeps_secrets_out_of_storage_and_loads_nothing_remote() {
    let mut total = 0;
    for (name, bytes) in api::ui::ASSETS {
        total += bytes.len();
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        // The token lives in sessionStorage only; markup is built with textContent.
        for banned in [
            "localStorage",
            "document.cookie",
            "innerHTML",
            "eval(",
            "console.log",
        ] {
            assert!(!text.contains(banned), "{name} uses {banned}");
        }
        // XML namespace names (SVG) look like URLs but load nothing.
        let loadable = text.replace("http://www.w3.org/", "");
        for remote in ["http://", "https://", "//cdn"] {
            assert!(
                !loadable.contains(remote),
                "{name} names a remote origin ({remote})"
            );
        }
        // The policy refuses inline code, so none may be written.
        if name.ends_with(".html") {
            assert!(
                !text.contains(" style=") && !text.contains(" onclick="),
                "{name}"
            );
            assert!(
                !text.contains("<script>") && !text.contains("<style"),
                "{name} has inline code"
            );
        }
    }
    // Uncompressed, comments included. Pages are fetched when first opened (`app.js` imports
    // them with `import()`), so what every visit loads is the shell below; the whole grew past
    // 224 KiB with the audit log streams page.
    assert!(total < 256 * 1024, "the dashboard is {total} bytes");
    let shell = first_load();
    let shell_bytes: usize = shell.iter().map(|name| asset(name).len()).sum();
    assert!(
        shell_bytes < 80 * 1024,
        "the first load ({shell:?}) is {shell_bytes} bytes"
    );
}

fn asset(name: &str) -> &'static [u8] {
    api::ui::ASSETS
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("{name} is not a dashboard file"))
}

/// What a first visit fetches before any page: index.html, style.css and the modules `app.js`
/// imports statically (`from './x.js'`), transitively. Pages come by `import('./x.js')`.
fn first_load() -> Vec<&'static str> {
    let mut seen = vec!["index.html", "style.css", "app.js"];
    let mut i = 2;
    while i < seen.len() {
        let text = std::str::from_utf8(asset(seen[i])).expect("utf-8");
        for part in text.split("from './").skip(1) {
            let Some((name, _)) = part.split_once('\'') else {
                continue;
            };
            let (file, _) = api::ui::ASSETS
                .iter()
                .find(|(file, _)| *file == name)
                .unwrap_or_else(|| panic!("{name}, imported by {}, is missing", seen[i]));
            if !seen.contains(file) {
                seen.push(file);
            }
        }
        i += 1;
    }
    assert!(
        !seen.iter().any(|name| name.starts_with("pages-")),
        "app.js imports a page statically: {seen:?}"
    );
    seen
}

#[test]
fn the_webhooks_page_offers_exactly_the_event_types_the_api_accepts() {
    let (_, page) = api::ui::ASSETS
        .iter()
        .find(|(name, _)| *name == "pages-webhooks.js")
        .expect("the webhooks page");
    let page = std::str::from_utf8(page).expect("utf-8");
    // Each offered type is one `['type', 'what it means'],` line of `EVENT_TYPES`.
    let (_, list) = page
        .split_once("export const EVENT_TYPES = [")
        .expect("EVENT_TYPES");
    let (list, _) = list.split_once("];").expect("the end of EVENT_TYPES");
    let offered: Vec<&str> = list
        .lines()
        .filter_map(|line| line.trim().strip_prefix("['"))
        .filter_map(|rest| rest.split_once("',").map(|(t, _)| t))
        .collect();
    let mut accepted = store::webhooks::EVENT_TYPES.to_vec();
    let mut offered_sorted = offered.clone();
    accepted.sort_unstable();
    offered_sorted.sort_unstable();
    assert_eq!(offered_sorted, accepted, "the page offers {offered:?}");
}

/// The string literals in the workspace's Rust sources (`crates/*/src`), as (file text) pieces.
fn workspace_sources() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(crates).expect("crates").flatten() {
        let src = entry.path().join("src");
        if src.is_dir() {
            walk(&src, &mut out);
        }
    }
    out
}

/// The quoted literal right after each `marker` (skipping whitespace), e.g. `.event("x", ...)`.
fn literals_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = text[at + marker.len()..].trim_start().strip_prefix('"')?;
            rest.split_once('"').map(|(lit, _)| lit.to_owned())
        })
        .collect()
}

/// The quoted entries of `export const NAME = [ ... ];` in `page`.
fn js_list(page: &str, name: &str) -> Vec<String> {
    let (_, list) = page
        .split_once(&format!("export const {name} = ["))
        .unwrap_or_else(|| panic!("{name}"));
    let (list, _) = list.split_once("];").expect("the end of the list");
    list.lines()
        .filter_map(|line| line.trim().strip_prefix('\'')?.split_once('\''))
        .map(|(item, _)| item.to_owned())
        .collect()
}

#[test]
fn the_audit_page_offers_every_action_and_resource_type_recorded() {
    let (_, page) = api::ui::ASSETS
        .iter()
        .find(|(name, _)| *name == "pages-audit.js")
        .expect("the audit page");
    let page = std::str::from_utf8(page).expect("utf-8");
    let actions = js_list(page, "KNOWN_ACTIONS");
    let types = js_list(page, "RESOURCE_TYPES");
    let sources = workspace_sources();
    let mut recorded = std::collections::BTreeSet::new();
    let mut kinds = std::collections::BTreeSet::new();
    for text in &sources {
        recorded.extend(literals_after(text, ".event("));
        recorded.extend(literals_after(text, "action: "));
        recorded.extend(literals_after(text, ".finish("));
        for (at, _) in text.match_indices(".event(") {
            // The second argument, when both are literals: the resource type.
            let second = text[at + ".event(".len()..]
                .trim_start()
                .strip_prefix('"')
                .and_then(|rest| rest.split_once('"'))
                .and_then(|(_, rest)| rest.trim_start().strip_prefix(','))
                .and_then(|rest| rest.trim_start().strip_prefix('"'))
                .and_then(|rest| rest.split_once('"'));
            if let Some((kind, _)) = second {
                kinds.insert(kind.to_owned());
            }
        }
        kinds.extend(literals_after(text, "resource_type: "));
    }
    recorded.retain(|a| a.contains('.'));
    kinds.retain(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    let offered: std::collections::BTreeSet<String> = actions.iter().cloned().collect();
    let missing: Vec<&String> = recorded.difference(&offered).collect();
    assert!(missing.is_empty(), "recorded but not offered: {missing:?}");
    // And nothing offered that no code records (a typo would never match).
    for action in &actions {
        let quoted = format!("\"{action}\"");
        assert!(
            sources.iter().any(|t| t.contains(&quoted)),
            "offered but never recorded: {action}"
        );
    }
    let offered: std::collections::BTreeSet<String> = types.iter().cloned().collect();
    let missing: Vec<&String> = kinds.difference(&offered).collect();
    assert!(
        missing.is_empty(),
        "resource types not offered: {missing:?}"
    );
}

//! The hostile input catalogue (issue 8): one test per family of attack, each table-driven over every
//! route it applies to (enumerated with `api::route_table()`, so a new route is covered or the
//! classification below fails). Every case must answer 4xx with a problem body, and the database
//! must be unchanged afterwards (`TestApp::dump`).

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

use crate::support::{
    DB_CONNECTION, Reply, TARGET_ID, TestApp, USER_PATH_ID, VAULT_API, VAULT_READY_ID,
};

const CONNECTIONS: &str = "/api/v1/app-connections/auth0";
const ROTATIONS: &str = "/api/v2/secret-rotations/auth0-client-secret";
const KEY_ROTATIONS: &str = "/api/v2/secret-rotations/auth0-private-key-jwt";

/// Routes anyone may call: no token, no project.
const PUBLIC: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/auth/universal-auth/login",
    "/api/v1/auth/login",
];

/// POST routes that take no body at all; a body sent to them is never read.
const BODYLESS_POSTS: &[&str] = &[
    "/api/v1/identities/{identityId}/client-secret",
    "/api/v1/app-connections/auth0/{connectionId}/validate",
    "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/rotate-secrets",
    "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}/rotate-secrets",
    "/api/v1/webhooks/{webhookId}/rotate-secret",
    "/api/v1/webhooks/{webhookId}/test",
    "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
];

/// Routes that name no project's resource (instance-wide, the caller's own, or admin-only): the
/// cross-project family has nothing of another project to point them at.
const UNSCOPED: &[&str] = &[
    "/api/v1/auth/token/revoke",
    "/api/v1/identities",
    "/api/v1/identities/{identityId}",
    "/api/v1/identities/{identityId}/client-secret",
    "/api/v1/projects",
    "/api/v1/app-connections/options",
    "/api/v2/secret-rotations/options",
];

/// Routes that take bodies larger than the API's default limit (secret values up to 64 KiB, which
/// JSON may escape to six bytes each): a body just over the default limit is read and judged.
const LARGE_BODY_ROUTES: &[&str] = &["/api/v3/secrets/raw/{secretName}"];

/// Ids of one project's resources, to fill route templates with.
struct Ids {
    project: String,
    connection: String,
    connection_name: String,
    /// A webhook endpoint and one of its deliveries.
    webhook: String,
    delivery: String,
    /// An audit log stream of the project.
    stream: String,
    rotation: String,
    rotation_name: String,
    /// An `auth0-private-key-jwt` rotation, for that type's routes.
    key_rotation: String,
    key_rotation_name: String,
    /// A member of the project (for membership routes) and an identity (for identity routes).
    member: String,
    /// The project's `dev` environment, a folder in it and a secret at its root.
    environment: String,
    folder: String,
    secret_name: String,
}

impl Ids {
    /// `route` with every parameter filled, plus the `projectId` query the route needs.
    fn fill(&self, route: &str) -> String {
        let (rotation, rotation_name) = if route.starts_with(KEY_ROTATIONS) {
            (&self.key_rotation, &self.key_rotation_name)
        } else {
            (&self.rotation, &self.rotation_name)
        };
        let path = route
            .replace("{projectId}", &self.project)
            .replace("{connectionId}", &self.connection)
            .replace("{connectionName}", &self.connection_name)
            .replace("{rotationId}", rotation)
            .replace("{rotationName}", rotation_name)
            .replace("{identityId}", &self.member)
            .replace("{userId}", USER_PATH_ID)
            .replace("{workspaceId}", &self.project)
            .replace("{envId}", &self.environment)
            .replace("{folderId}", &self.folder)
            .replace("{secretName}", &self.secret_name)
            .replace("{webhookId}", &self.webhook)
            .replace("{deliveryId}", &self.delivery)
            .replace("{streamId}", &self.stream);
        if route == "/api/v2/folders" || route == "/api/v1/folders" {
            format!("{path}?projectId={}&environment=dev", self.project)
        } else if route.starts_with("/api/v3/secrets/raw") {
            format!("{path}?workspaceId={}&environment=dev", self.project)
        } else if needs_project_query(route) {
            format!("{path}?projectId={}", self.project)
        } else {
            path
        }
    }
}

fn needs_project_query(route: &str) -> bool {
    route.contains("connection-name")
        || route.contains("rotation-name")
        || [
            "/api/v1/app-connections",
            CONNECTIONS,
            "/api/v2/secret-rotations",
            ROTATIONS,
            KEY_ROTATIONS,
            "/api/v1/audit-logs",
            "/api/v1/audit-log-streams",
            "/api/v1/webhooks",
        ]
        .contains(&route)
}

/// A rotation of `TARGET_ID` in `project` through `connection`, created as the instance admin.
async fn rotation_in(app: &TestApp, project: &str, name: &str, connection: &str) -> Value {
    let mut body = app.rotation_body(name, connection, TARGET_ID);
    body["projectId"] = json!(project);
    let reply = app.call(Method::POST, ROTATIONS, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["secretRotation"].clone()
}

/// An `auth0-private-key-jwt` rotation of `TARGET_ID` in `project`, created as the instance admin.
async fn key_rotation_in(app: &TestApp, project: &str, name: &str, connection: &str) -> Value {
    let mut body = app.key_rotation_body(name, connection, TARGET_ID);
    body["projectId"] = json!(project);
    let reply = app.call(Method::POST, KEY_ROTATIONS, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["secretRotation"].clone()
}

/// `project`'s `dev` environment id, a folder `name` at its root and a secret `name` (upper case)
/// beside it, made as the instance admin.
async fn secrets_in(app: &TestApp, project: &str, name: &str) -> (String, String, String) {
    let environments = app
        .call(
            Method::GET,
            &format!("/api/v1/workspace/{project}/environments"),
            None,
            &[],
        )
        .await;
    let dev = environments.json["environments"][0]["id"]
        .as_str()
        .expect("dev")
        .to_owned();
    let body = json!({ "projectId": project, "environment": "dev", "name": name });
    let folder = app
        .call(Method::POST, "/api/v2/folders", Some(body), &[])
        .await;
    assert_eq!(folder.status, StatusCode::OK, "{}", folder.text);
    let secret_name = name.to_uppercase().replace('-', "_");
    let body = json!({ "workspaceId": project, "environment": "dev", "secretValue": "home-value" });
    let secret = app
        .call(
            Method::POST,
            &format!("/api/v3/secrets/raw/{secret_name}"),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(secret.status, StatusCode::OK, "{}", secret.text);
    let folder = folder.json["folder"]["id"].as_str().expect("id").to_owned();
    (dev, folder, secret_name)
}

async fn connection_in(app: &TestApp, project: &str, name: &str) -> Value {
    let mut body = app.connection_body(name);
    body["projectId"] = json!(project);
    let reply = app.call(Method::POST, CONNECTIONS, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["appConnection"].clone()
}

/// A webhook endpoint in `project` with one (pending) delivery of a test event, made as the
/// instance admin: (webhook id, delivery id).
async fn webhook_in(app: &TestApp, project: &str) -> (String, String) {
    let body =
        json!({ "projectId": project, "url": "https://hooks.example.com/k", "eventTypes": ["*"] });
    let reply = app
        .call(Method::POST, "/api/v1/webhooks", Some(body), &[])
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json["webhook"]["id"].as_str().expect("id").to_owned();
    let test = app
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
            &[],
        )
        .await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.text);
    let delivery = test.json["delivery"]["id"].as_str().expect("id").to_owned();
    (id, delivery)
}

/// An audit log stream of `project`, made as the instance admin.
async fn stream_in(app: &TestApp, project: &str) -> String {
    let body = json!({ "projectId": project, "url": "https://intake.example.com/k" });
    let reply = app
        .call(Method::POST, "/api/v1/audit-log-streams", Some(body), &[])
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["auditLogStream"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// The test project's resources: a connection, a rotation using it, and a member.
async fn world(app: &TestApp) -> Ids {
    // Every scope the routes through a connection need, so Auth0's answers are about the input.
    let connection = app.create_wide("home-conn").await;
    let connection_id = connection["id"].as_str().expect("id").to_owned();
    let rotation = rotation_in(app, &app.project_id, "home-rot", &connection_id).await;
    let key_rotation = key_rotation_in(app, &app.project_id, "home-key", &connection_id).await;
    let member = app
        .identity("home-member", Some((&app.project_id, "viewer")))
        .await;
    let (environment, folder, secret_name) = secrets_in(app, &app.project_id, "home-folder").await;
    let (webhook, delivery) = webhook_in(app, &app.project_id).await;
    let stream = stream_in(app, &app.project_id).await;
    Ids {
        webhook,
        delivery,
        stream,
        project: app.project_id.clone(),
        connection: connection_id,
        connection_name: "home-conn".to_owned(),
        rotation: rotation["id"].as_str().expect("id").to_owned(),
        rotation_name: "home-rot".to_owned(),
        key_rotation: key_rotation["id"].as_str().expect("id").to_owned(),
        key_rotation_name: "home-key".to_owned(),
        member: member.id,
        environment,
        folder,
        secret_name,
    }
}

/// Sends a request whose header values may be any bytes `HeaderValue` allows (not just UTF-8), and
/// checks the answer against openapi.yaml as `TestApp::send` does.
async fn send_bytes(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    headers: &[(&str, &[u8])],
) -> Reply {
    let sent = body.clone();
    let mut request = Request::builder().method(method.clone()).uri(path);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
        let value = HeaderValue::from_bytes(value).expect("header value");
        request = request.header(name, value);
    }
    let request = request
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .expect("request");
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let reply = Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    crate::openapi::check(&method, path, sent.as_deref(), &reply);
    reply
}

/// Header (name, raw value) pairs, as `send_bytes` takes them.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

/// (case, method, path, body, the header under test, the status it must get).
type HeaderCase<'a> = (
    &'a str,
    Method,
    &'a str,
    &'a [u8],
    (&'a str, String),
    StatusCode,
);

/// Asserts a 4xx problem body (any of `allowed`) and returns its status.
fn refused(reply: &Reply, allowed: &[StatusCode], case: &str) -> StatusCode {
    assert!(
        allowed.contains(&reply.status),
        "{case}: want one of {allowed:?}, got {} {}",
        reply.status,
        reply.text
    );
    reply.problem(reply.status);
    reply.status
}

/// (table, row) of every row in a `TestApp::dump`.
fn rows(dump: &str) -> BTreeSet<(String, String)> {
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for line in dump.lines() {
        match line.strip_prefix("== ") {
            Some(name) => table = name.to_owned(),
            None if !line.is_empty() => {
                out.insert((table.clone(), line.to_owned()));
            }
            None => {}
        }
    }
    out
}

/// Fails, with only the rows that differ, unless the database is as `before`. Calls through a
/// connection audit their failures too (`failed_usage_audited`): those rows, and only those, may
/// be added.
async fn unchanged_but(app: &TestApp, before: &str, what: &str, failed_usage_audited: bool) {
    let after = app.dump().await;
    let (old, new) = (rows(before), rows(&after));
    let gone: Vec<_> = old.difference(&new).collect();
    let added: Vec<_> = new
        .difference(&old)
        .filter(|(table, row)| {
            !(failed_usage_audited
                && table == "audit_events"
                && row.contains(",app_connection.user.")
                && row.contains(",failure,"))
        })
        .collect();
    assert!(
        gone.is_empty() && added.is_empty(),
        "{what}:\n  gone: {gone:#?}\n  added: {added:#?}"
    );
}

async fn unchanged(app: &TestApp, before: &str, what: &str) {
    unchanged_but(app, before, what, false).await;
}

fn body_routes() -> Vec<(Method, &'static str)> {
    api::route_table()
        .into_iter()
        .filter(|(m, p)| (*m == Method::POST || *m == Method::PATCH) && !BODYLESS_POSTS.contains(p))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. SSRF in `domain`
// ---------------------------------------------------------------------------------------------

/// Spellings that must never become a tenant domain, beyond `bad_input.rs`'s list.
const SSRF_DOMAINS: &[&str] = &[
    // IP literals, every octet in another notation, with and without a trailing dot.
    "127.0.0.1.",
    "0x7f.0x0.0x0.0x1",
    "0x7f.0.0.1",
    "0177.0000.0000.0001",
    "127.0.0.0x1",
    "127.000.000.001",
    "017700000001",
    "0x7F000001",
    "0X7f000001",
    "4294967295",
    "0",
    "0.0.0.0",
    "169.254.169.254.",
    "0xa9fea9fe",
    "2852039166",
    "10.1",
    "192.168.1",
    "1.2.3.4.5",
    "acme.127.0.0.1",
    // IPv6 in every dress, zone ids included.
    "[::1]:443",
    "[fe80::1%25eth0]",
    "fe80::1%eth0",
    "::",
    "[::]",
    "::ffff:7f00:1",
    "[::ffff:169.254.169.254]",
    "0:0:0:0:0:0:0:1",
    "fd00::1",
    // Internal names: trailing dots, case, nested suffixes.
    "LOCALHOST",
    "LocalHost.",
    "localhost..",
    "a.b.localhost.",
    "metadata.google.internal.",
    "kubernetes.default.svc.cluster.local",
    "1.0.0.127.in-addr.arpa",
    "router.home.arpa",
    "x.invalid",
    // Userinfo, fragment, backslash and percent tricks.
    "acme.auth0.test@127.0.0.1",
    "127.0.0.1@acme.auth0.test",
    "acme.auth0.test#@127.0.0.1",
    "127.0.0.1#.acme.auth0.test",
    "acme.auth0.test\\@127.0.0.1",
    "127.0.0.1\\.acme.auth0.test",
    "acme.auth0.test%2f..",
    "127%2e0%2e0%2e1",
    "acme%2eauth0%2etest",
    "%6c%6f%63%61%6c%68%6f%73%74",
    "acme.auth0.test%00.evil.test",
    "//acme.auth0.test",
    "https:acme.auth0.test",
    "HTTPS://acme.auth0.test",
    "file:///etc/passwd",
    // Whitespace and control characters inside the name.
    "acme.auth0.test\u{0}",
    "acme\tauth0.test",
    "acme.auth0.test\nevil.test",
    "acme.\u{b}auth0.test",
    "acme.auth0.test\u{7f}",
    "acme.auth0\u{a0}.test",
    "acme\u{200b}.auth0.test",
    // Unicode look-alikes: Cyrillic, Greek, full-width dots and letters, dotless i.
    "аcme.auth0.test",
    "acme.аuth0.test",
    "αcme.auth0.test",
    "acme.auth0.tеst",
    "acme\u{ff0e}auth0.test",
    "acme\u{3002}auth0.test",
    "ａｃｍｅ.auth0.test",
    "ıocalhost",
    "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
    // Label syntax.
    "-acme.auth0.test",
    "acme-.auth0.test",
    "acme..auth0.test",
    ".acme.auth0.test",
    "acme_1.auth0.test",
    "*.auth0.test",
    "acme.auth0.test,evil.test",
    "acme.auth0.test;evil.test",
];

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn ssrf_domains_are_refused_everywhere(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let existing = app.create("existing").await;
    let patch_path = format!("{CONNECTIONS}/{}", existing["id"].as_str().expect("id"));
    let long_label = format!("{}.auth0.test", "a".repeat(64));
    let too_long = format!("{}.test", "abcdefghi.".repeat(26));
    let mut domains: Vec<&str> = SSRF_DOMAINS.to_vec();
    domains.push(&long_label);
    domains.push(&too_long);
    let before = app.dump().await;
    for domain in &domains {
        let create = {
            let mut body = app.connection_body("ssrf");
            body["credentials"]["domain"] = json!(domain);
            app.call(Method::POST, CONNECTIONS, Some(body), &[]).await
        };
        let patch = {
            let body = json!({ "credentials": {
                "domain": domain, "clientId": "acmeM2MclientID0000000000000001", "clientSecret": "x"
            } });
            app.call(Method::PATCH, &patch_path, Some(body), &[]).await
        };
        for reply in [create, patch] {
            refused(&reply, &[StatusCode::UNPROCESSABLE_ENTITY], domain);
            assert_eq!(
                reply.fields(),
                ["credentials.domain"],
                "{domain:?}: {}",
                reply.text
            );
            // The refusal explains itself without echoing what was sent.
            let detail = reply.json["errors"][0]["detail"]
                .as_str()
                .unwrap_or_default();
            assert!(!detail.is_empty(), "{domain:?}: {}", reply.text);
        }
    }
    let counters = app.emulator.admin().counters(crate::support::DOMAIN);
    assert_eq!(
        counters.expect("tenant").tokens_issued,
        1,
        "only `existing`'s create reached Auth0"
    );
    unchanged(&app, &before, "a refused domain changed the database").await;
}

/// Decisions on spellings that are not attacks: a trailing dot (a valid FQDN) and capitals are
/// normalised to the one stored spelling, so they cannot create a second connection to the same
/// tenant under another name; punycode labels are plain ASCII hostnames and pass the syntax check
/// (the connect-time address check still applies), while their Unicode form is refused outright.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn domain_spellings_normalise_to_one_form(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for (n, spelling) in ["acme.auth0.test.", "ACME.Auth0.TEST", " Acme.Auth0.Test. "]
        .iter()
        .enumerate()
    {
        let mut body = app.connection_body(&format!("spelling-{n}"));
        body["credentials"]["domain"] = json!(spelling);
        let reply = app.call(Method::POST, CONNECTIONS, Some(body), &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{spelling:?}: {}",
            reply.text
        );
        let stored = &reply.json["appConnection"]["credentials"];
        assert_eq!(stored["domain"], "acme.auth0.test", "{spelling:?}");
        assert_eq!(
            stored["audience"], "https://acme.auth0.test/api/v2/",
            "{spelling:?}"
        );
    }
    let domains: Vec<String> = sqlx::query_scalar("select distinct domain from app_connections")
        .fetch_all(&app.pool)
        .await
        .expect("domains");
    assert_eq!(domains, ["acme.auth0.test"]);

    let puny = auth0::Domain::parse("XN--CME-8CD.auth0.test.").expect("punycode is ASCII");
    assert_eq!(puny.as_str(), "xn--cme-8cd.auth0.test");
    for unicode in ["аcme.auth0.test", "bücher.example"] {
        assert_eq!(
            auth0::Domain::parse(unicode),
            Err(auth0::DomainError::NonAscii),
            "{unicode}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Oversized, deeply nested and invalid UTF-8 bodies on every POST/PATCH route
// ---------------------------------------------------------------------------------------------

/// A body that is not UTF-8 is refused as malformed (400), or as invalid (422) when the
/// deserialiser first meets a field the route does not take; either way before anything runs.
const UTF8: &[StatusCode] = &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY];

fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    (open.repeat(depth) + "1" + &close.repeat(depth)).into_bytes()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn oversized_nested_and_non_utf8_bodies_on_every_body_route(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    let before = app.dump().await;
    let big_string = format!("{{\"name\":\"{}\"}}", "a".repeat(api::BODY_LIMIT_BYTES));
    let cases: Vec<(&str, Vec<u8>, &[StatusCode])> = vec![
        (
            "64 KiB + 1 string",
            big_string.into_bytes(),
            &[StatusCode::PAYLOAD_TOO_LARGE],
        ),
        (
            "1 MiB of whitespace",
            [b"{".to_vec(), vec![b' '; 1 << 20], b"}".to_vec()].concat(),
            &[StatusCode::PAYLOAD_TOO_LARGE],
        ),
        (
            "many small members",
            format!("{{{}\"x\":1}}", "\"k\":1,".repeat(12_000)).into_bytes(),
            &[StatusCode::PAYLOAD_TOO_LARGE],
        ),
        (
            "10,000 nested arrays",
            nested(10_000, "[", "]"),
            &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
        ),
        (
            "10,000 nested objects",
            nested(10_000, "{\"a\":", "}"),
            &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
        ),
        (
            "nesting inside free-form metadata",
            [
                b"{\"user_metadata\":".to_vec(),
                nested(5_000, "{\"a\":", "}"),
                b"}".to_vec(),
            ]
            .concat(),
            &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
        ),
        (
            "invalid UTF-8 in a string",
            b"{\"name\":\"\xff\xfe\"}".to_vec(),
            UTF8,
        ),
        (
            "overlong UTF-8 encoding of '/'",
            b"{\"name\":\"\xc0\xaf\"}".to_vec(),
            UTF8,
        ),
        (
            "UTF-16 surrogate encoded as UTF-8",
            b"{\"name\":\"\xed\xa0\x80\"}".to_vec(),
            UTF8,
        ),
        (
            "lone surrogate escape",
            br#"{"name":"\ud800"}"#.to_vec(),
            &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
        ),
        (
            "invalid UTF-8 in a key",
            b"{\"\xff\":1}".to_vec(),
            &[StatusCode::BAD_REQUEST],
        ),
        (
            "UTF-16 body with BOM",
            b"\xff\xfe{\x00}\x00".to_vec(),
            &[StatusCode::BAD_REQUEST],
        ),
        (
            "NUL bytes",
            b"\x00\x00\x00".to_vec(),
            &[StatusCode::BAD_REQUEST],
        ),
    ];
    let routes = body_routes();
    assert!(routes.len() >= 15, "{routes:?}");
    let bearer = format!("Bearer {}", app.admin_token);
    let mut count = 0;
    for (method, route) in &routes {
        let path = ids.fill(route);
        // Public routes refuse exactly like the others; the token is simply not needed there.
        for (case, body, allowed) in &cases {
            // Over the default limit but under this route's own: read, then refused as input.
            let widened = [
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::UNPROCESSABLE_ENTITY,
            ];
            let allowed: &[StatusCode] = if LARGE_BODY_ROUTES.contains(route)
                && *allowed == [StatusCode::PAYLOAD_TOO_LARGE]
                && body.len() < 8 * 64 * 1024
            {
                &widened
            } else {
                allowed
            };
            let reply = app
                .send(
                    method.clone(),
                    &path,
                    Some(body.clone()),
                    "application/json",
                    &[("authorization", &bearer)],
                )
                .await;
            refused(&reply, allowed, &format!("{method} {route}: {case}"));
            count += 1;
        }
        // Headers that are not UTF-8 reach the router as opaque bytes.
        let header_cases: Vec<(&str, Headers, StatusCode)> = vec![
            (
                "content-type not UTF-8",
                vec![
                    ("content-type", b"application/json\xff"),
                    ("authorization", bearer.as_bytes()),
                ],
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "authorization not UTF-8",
                vec![
                    ("content-type", b"application/json"),
                    ("authorization", b"Bearer kh_\xff\xfe"),
                ],
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for (case, headers, status) in header_cases {
            if PUBLIC.contains(route) && status == StatusCode::UNAUTHORIZED {
                continue;
            }
            let reply =
                send_bytes(&app, method.clone(), &path, Some(b"{}".to_vec()), &headers).await;
            refused(&reply, &[status], &format!("{method} {route}: {case}"));
            count += 1;
        }
    }
    assert!(count > 200, "{count}");
    unchanged(&app, &before, "a refused body changed the database").await;
}

// ---------------------------------------------------------------------------------------------
// 4. Header smuggling that can reach the router
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn smuggled_and_giant_headers_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let existing = app.create("existing").await;
    let patch_path = format!("{CONNECTIONS}/{}", existing["id"].as_str().expect("id"));
    let token = app.admin_token.clone();
    let bearer = format!("Bearer {token}");
    let before = app.dump().await;
    let giant = "k".repeat(64 * 1024);
    let list = format!("{CONNECTIONS}?projectId={}", app.project_id);

    // Authorization spelled every wrong way: only `Bearer <token>` once is a credential.
    let auth_cases: Vec<(&str, Vec<String>)> = vec![
        (
            "two Authorization headers",
            vec![bearer.clone(), bearer.clone()],
        ),
        (
            "a second, bogus Authorization first",
            vec!["Bearer kh_bogus".into(), bearer.clone()],
        ),
        ("Basic scheme", vec![format!("Basic {token}")]),
        ("Digest scheme", vec![format!("Digest {token}")]),
        ("no scheme", vec![token.clone()]),
        ("tab instead of space", vec![format!("Bearer\t{token}")]),
        ("two tokens", vec![format!("Bearer {token} {token}")]),
        (
            "token, comma, token",
            vec![format!("Bearer {token},{token}")],
        ),
        (
            "token with a trailing junk param",
            vec![format!("Bearer {token};x=1")],
        ),
        ("scheme glued to token", vec![format!("Bearer{token}")]),
        ("only the scheme", vec!["Bearer ".into()]),
        ("64 KiB token", vec![format!("Bearer {giant}")]),
        ("token with a quote", vec![format!("Bearer \"{token}\"")]),
    ];
    for (case, values) in &auth_cases {
        let headers: Vec<(&str, &[u8])> = values
            .iter()
            .map(|v| ("authorization", v.as_bytes()))
            .collect();
        let reply = send_bytes(&app, Method::GET, &list, None, &headers).await;
        refused(&reply, &[StatusCode::UNAUTHORIZED], case);
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{case}");
    }
    // Extra whitespace around a well-formed credential is tolerated (RFC 9110 trims it).
    for value in [format!("Bearer  {token}"), format!("bearer {token} ")] {
        let reply = app
            .send(
                Method::GET,
                &list,
                None,
                "",
                &[("authorization", value.as_str())],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{value:?}: {}", reply.text);
    }

    let auth = ("authorization", bearer.as_str());
    let create_body = serde_json::to_vec(&app.connection_body("smuggled")).expect("json");
    let patch_body = serde_json::to_vec(&json!({ "description": "x" })).expect("json");
    let header_cases: Vec<HeaderCase> = vec![
        (
            "64 KiB Idempotency-Key",
            Method::POST,
            CONNECTIONS,
            &create_body,
            ("idempotency-key", giant.clone()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "Idempotency-Key with a tab",
            Method::POST,
            CONNECTIONS,
            &create_body,
            ("idempotency-key", "a\tb".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "Idempotency-Key with a space",
            Method::POST,
            CONNECTIONS,
            &create_body,
            ("idempotency-key", "a b".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty Idempotency-Key",
            Method::POST,
            CONNECTIONS,
            &create_body,
            ("idempotency-key", String::new()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "64 KiB If-Match",
            Method::PATCH,
            &patch_path,
            &patch_body,
            ("if-match", giant.clone()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "64 KiB of digits in If-Match",
            Method::PATCH,
            &patch_path,
            &patch_body,
            ("if-match", "9".repeat(64 * 1024)),
            StatusCode::BAD_REQUEST,
        ),
        (
            "If-Match list",
            Method::PATCH,
            &patch_path,
            &patch_body,
            ("if-match", "\"1\", \"2\"".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "weak If-Match",
            Method::PATCH,
            &patch_path,
            &patch_body,
            ("if-match", "W/\"1\"".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "negative If-Match",
            Method::PATCH,
            &patch_path,
            &patch_body,
            ("if-match", "\"-1\"".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "If-Match beyond i64",
            Method::PATCH,
            &patch_path,
            &patch_body,
            ("if-match", "\"9223372036854775808\"".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "64 KiB Content-Type",
            Method::POST,
            CONNECTIONS,
            &create_body,
            ("content-type", format!("application/{giant}")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (case, method, path, body, (name, value), status) in &header_cases {
        let mut headers: Vec<(&str, &[u8])> = vec![auth_bytes(&auth), (name, value.as_bytes())];
        if *name != "content-type" {
            headers.push(("content-type", b"application/json"));
        }
        let reply = send_bytes(&app, method.clone(), path, Some(body.to_vec()), &headers).await;
        refused(&reply, &[*status], case);
    }
    // Non-UTF-8 in the guard headers is refused, not ignored.
    for (case, name) in [
        ("If-Match", "if-match"),
        ("Idempotency-Key", "idempotency-key"),
    ] {
        let (method, path, body) = if name == "if-match" {
            (Method::PATCH, patch_path.as_str(), &patch_body)
        } else {
            (Method::POST, CONNECTIONS, &create_body)
        };
        let headers: Vec<(&str, &[u8])> = vec![
            auth_bytes(&auth),
            ("content-type", b"application/json"),
            (name, b"\"1\xff\""),
        ];
        let reply = send_bytes(&app, method, path, Some(body.clone()), &headers).await;
        refused(&reply, &[StatusCode::BAD_REQUEST], case);
    }
    unchanged(&app, &before, "a refused header changed the database").await;
}

fn auth_bytes<'a>(auth: &'a (&'a str, &'a str)) -> (&'a str, &'a [u8]) {
    (auth.0, auth.1.as_bytes())
}

/// A client's `X-Request-Id` is echoed in the response, the problem body, logs and audit rows. One
/// that is not a short visible-ASCII id is replaced by a generated UUID rather than repeated.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_request_ids_are_replaced_not_echoed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let bearer = format!("Bearer {}", app.admin_token);
    let kib = "r".repeat(1024);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("1 KiB", kib.into_bytes()),
        ("tab inside", b"abc\tdef".to_vec()),
        ("space inside", b"abc def".to_vec()),
        ("not UTF-8", b"abc\xff\xfe".to_vec()),
        ("log-line lookalike", b"x level=ERROR msg=forged".to_vec()),
    ];
    for (case, value) in &cases {
        let headers: Vec<(&str, &[u8])> = vec![
            ("authorization", bearer.as_bytes()),
            ("x-request-id", value),
        ];
        // An error path (problem body) and a success path.
        let missing = format!("{CONNECTIONS}/{}", uuid::Uuid::now_v7());
        let problem = send_bytes(&app, Method::GET, &missing, None, &headers).await;
        problem.problem(StatusCode::NOT_FOUND);
        let ok = send_bytes(&app, Method::GET, "/healthz", None, &headers).await;
        assert_eq!(ok.status, StatusCode::OK);
        for reply in [&problem, &ok] {
            let echoed = reply.headers["x-request-id"].as_bytes();
            assert_ne!(echoed, value.as_slice(), "{case}: echoed as sent");
            let echoed = std::str::from_utf8(echoed).expect("ASCII");
            assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{case}: {echoed}");
        }
        assert_eq!(
            problem.json["requestId"].as_str(),
            problem.headers["x-request-id"].to_str().ok(),
            "{case}"
        );
    }
    // A sensible id is still the client's own, and JSON punctuation in it stays inside its string.
    let missing = format!("{CONNECTIONS}/{}", uuid::Uuid::now_v7());
    for fine in ["req_01HZX-abc.123:4", r#"","status":200,"x":""#] {
        let reply = app
            .call(Method::GET, &missing, None, &[("x-request-id", fine)])
            .await;
        assert_eq!(reply.headers["x-request-id"], fine);
        reply.problem(StatusCode::NOT_FOUND);
        assert_eq!(reply.json["requestId"], fine);
    }
    let kept = "k".repeat(api::MAX_CLIENT_REQUEST_ID);
    let reply = app
        .call(Method::GET, "/healthz", None, &[("x-request-id", &kept)])
        .await;
    assert_eq!(reply.headers["x-request-id"], kept.as_str());
}

// ---------------------------------------------------------------------------------------------
// 5. Path traversal and encoded slashes in every path parameter
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn traversal_in_every_path_parameter(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    let before_emulator = app
        .emulator
        .admin()
        .counters(crate::support::DOMAIN)
        .expect("tenant");
    let before = app.dump().await;
    let long = "a".repeat(8 * 1024);
    let hostile: Vec<&str> = vec![
        "..",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "..%2f..%2fclients",
        "%2e%2e",
        "%2e%2e%2f%2e%2e",
        "..%5C..%5Cwindows",
        "..;",
        "%00",
        "a%00b",
        "%ff%fe",
        "%c0%af",
        "%252e%252e%252f",
        "%0d%0aX-Injected:%201",
        "%20",
        "*",
        "'%20or%20'1'='1",
        &long,
    ];
    let routes: Vec<(Method, &str)> = api::route_table()
        .into_iter()
        .filter(|(_, p)| p.contains('{'))
        .collect();
    assert!(routes.len() >= 20, "{routes:?}");
    let mut count = 0;
    for (method, route) in &routes {
        let params: Vec<&str> = route.split('/').filter(|s| s.starts_with('{')).collect();
        for param in params {
            for value in &hostile {
                let path = ids.fill(&route.replace(param, value));
                let body = matches!(*method, Method::POST | Method::PATCH)
                    .then(|| json!({ "description": "x" }));
                let reply = app.call(method.clone(), &path, body, &[]).await;
                let case = format!("{method} {route} {param}={value:.40}");
                refused(
                    &reply,
                    &[
                        StatusCode::BAD_REQUEST,
                        StatusCode::NOT_FOUND,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    ],
                    &case,
                );
                count += 1;
            }
        }
    }
    assert!(count > 400, "{count}");
    // `{userId}` is the one parameter that reaches Auth0, percent-encoded as one segment: no
    // traversal turned into a call on another Management API endpoint, and nothing was rotated.
    let after_emulator = app
        .emulator
        .admin()
        .counters(crate::support::DOMAIN)
        .expect("tenant");
    let reached: Vec<&String> = after_emulator
        .requests_by_endpoint
        .iter()
        .filter(|(endpoint, n)| before_emulator.requests_by_endpoint.get(*endpoint) != Some(*n))
        .map(|(endpoint, _)| endpoint)
        .collect();
    assert!(
        reached.iter().all(|e| [
            "POST /oauth/token",
            "GET /api/v2/users/{id}",
            "PATCH /api/v2/users/{id}"
        ]
        .contains(&e.as_str())),
        "{reached:?}"
    );
    assert_eq!(after_emulator.rotations, before_emulator.rotations);
    // Failed user look-ups are audited (with the id as sent, as data): that is all that changed.
    unchanged_but(&app, &before, "a hostile path changed the database", true).await;
}

// ---------------------------------------------------------------------------------------------
// 6. SQL metacharacters in every string field and query parameter
// ---------------------------------------------------------------------------------------------

const SQL_META: &[&str] = &[
    "'",
    "\"",
    ";",
    "--",
    "/*",
    "*/",
    "\\",
    "%",
    "_",
    "\u{0}",
    "' or '1'='1",
    "'); drop table app_connections;--",
    "$1",
    "$$",
    "\\x00",
    "%%",
    "_%",
];

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn sql_metacharacters_in_fields_and_queries(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    app.create("second-conn").await;
    let connection_path = format!("{CONNECTIONS}/{}", ids.connection);
    let before = app.dump().await;
    let mut count = 0;
    for meta in SQL_META {
        let wrapped = format!("a{meta}b");
        for value in [meta.to_string(), wrapped] {
            // Slug-like fields refuse anything but the slug alphabet.
            let mut create = app.connection_body("x");
            create["name"] = json!(value);
            let mut create_rot = app.rotation_body("x", &ids.connection, TARGET_ID);
            create_rot["name"] = json!(value);
            let mut bad_client = app.connection_body("x");
            bad_client["credentials"]["clientId"] = json!(value);
            let mut bad_project = app.connection_body("x");
            bad_project["projectId"] = json!(value);
            let mut bad_audience = app.connection_body("x");
            bad_audience["credentials"]["audience"] = json!(format!("https://x/{value} "));
            let body_cases: Vec<(Method, String, Value)> = vec![
                (Method::POST, CONNECTIONS.into(), create),
                (Method::POST, ROTATIONS.into(), create_rot),
                (Method::POST, CONNECTIONS.into(), bad_client),
                (Method::POST, CONNECTIONS.into(), bad_project),
                (
                    Method::PATCH,
                    connection_path.clone(),
                    json!({ "name": value }),
                ),
                (
                    Method::POST,
                    "/api/v1/projects".into(),
                    json!({ "name": "p", "description": format!("{value}\u{1}") }),
                ),
                (
                    Method::POST,
                    format!("/api/v1/projects/{}/memberships", ids.project),
                    json!({ "identityId": value, "role": "viewer" }),
                ),
                (
                    Method::PATCH,
                    format!(
                        "/api/v1/projects/{}/memberships/{}",
                        ids.project, ids.member
                    ),
                    json!({ "role": value }),
                ),
                (
                    Method::POST,
                    "/api/v1/identities".into(),
                    json!({ "type": value, "name": "n" }),
                ),
            ];
            for (method, path, body) in body_cases {
                let reply = app
                    .call(method.clone(), &path, Some(body.clone()), &[])
                    .await;
                refused(
                    &reply,
                    &[
                        StatusCode::UNPROCESSABLE_ENTITY,
                        StatusCode::NOT_FOUND,
                        StatusCode::BAD_REQUEST,
                    ],
                    &format!("{method} {path} {body}"),
                );
                count += 1;
            }
            // Query parameters: ids and cursors are refused; names and paths look unknown.
            let q = form_encode(&value);
            for path in [
                format!("{CONNECTIONS}?projectId={q}"),
                format!("{CONNECTIONS}?projectId={}&cursor={q}", ids.project),
                format!("{ROTATIONS}?projectId={}&connectionId={q}", ids.project),
                format!("{ROTATIONS}?projectId={}&cursor={q}", ids.project),
                format!("/api/v1/audit-logs?projectId={}&cursor={q}", ids.project),
                format!("/api/v1/audit-logs?projectId={q}"),
                format!(
                    "{CONNECTIONS}/connection-name/{}?projectId={}",
                    path_encode(&value),
                    ids.project
                ),
                format!(
                    "{ROTATIONS}/rotation-name/{}?projectId={}",
                    path_encode(&value),
                    ids.project
                ),
                format!("{CONNECTIONS}/connection-name/home-conn?projectId={q}"),
            ] {
                let reply = app.call(Method::GET, &path, None, &[]).await;
                refused(
                    &reply,
                    &[
                        StatusCode::UNPROCESSABLE_ENTITY,
                        StatusCode::NOT_FOUND,
                        StatusCode::BAD_REQUEST,
                    ],
                    &path,
                );
                count += 1;
            }
            // Searches and filters treat the value literally: no name holds these characters.
            for path in [
                format!("{CONNECTIONS}?projectId={}&search={q}", ids.project),
                format!(
                    "/api/v1/app-connections?projectId={}&search={q}",
                    ids.project
                ),
                format!("{ROTATIONS}?projectId={}&search={q}", ids.project),
                format!(
                    "/api/v2/secret-rotations?projectId={}&search={q}",
                    ids.project
                ),
                format!("/api/v1/audit-logs?projectId={}&action={q}", ids.project),
            ] {
                let reply = app.call(Method::GET, &path, None, &[]).await;
                count += 1;
                if reply.status != StatusCode::OK {
                    // NUL cannot be stored or searched for: a clear refusal is the right answer.
                    refused(&reply, &[StatusCode::UNPROCESSABLE_ENTITY], &path);
                    continue;
                }
                let items = list_items(&reply.json);
                assert_eq!(items, 0, "{path}: {}", reply.text);
            }
        }
    }
    assert!(count > 400, "{count}");
    unchanged(&app, &before, "a metacharacter changed the database").await;

    // Logins look credentials up by value: metacharacters (NUL too) are just unknown accounts.
    // Failed logins are audited, so this part adds `auth.login` audit rows and nothing else.
    let events_before: i64 = sqlx::query_scalar("select count(*) from audit_events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    let mut logins = 0;
    for meta in SQL_META {
        for (path, body) in [
            (
                "/api/v1/auth/universal-auth/login",
                json!({ "clientId": meta, "clientSecret": meta }),
            ),
            (
                "/api/v1/auth/login",
                json!({ "email": format!("a{meta}@x.test"), "password": meta }),
            ),
        ] {
            let reply = app.call_as(None, Method::POST, path, Some(body), &[]).await;
            // 429 once the failures add up (per address, and these all come from one).
            refused(
                &reply,
                &[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS],
                &format!("{path} {meta:?}"),
            );
            logins += 1;
        }
    }
    let new_events: Vec<(String, String)> = sqlx::query_as(
        "select action, outcome from audit_events order by created_at, id offset $1",
    )
    .bind(events_before)
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(new_events.len(), logins, "{new_events:?}");
    assert!(
        new_events
            .iter()
            .all(|(action, outcome)| action == "auth.login" && outcome != "success"),
        "{new_events:?}"
    );

    // Free text is stored verbatim (bound, never spliced) and read back byte for byte.
    let printable: Vec<&str> = SQL_META
        .iter()
        .copied()
        .filter(|m| !m.contains('\u{0}'))
        .collect();
    let description = printable.join(" ");
    let reply = app
        .call(
            Method::PATCH,
            &connection_path,
            Some(json!({ "description": description })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json["appConnection"]["description"],
        description.as_str()
    );
    let nul = app
        .call(
            Method::PATCH,
            &connection_path,
            Some(json!({ "description": "a\u{0}b" })),
            &[],
        )
        .await;
    nul.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nul.fields(), ["description"]);
    // Project names are free text too: stored as sent, NUL refused.
    let project_name = "x'; drop table projects;--";
    let made = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": project_name })),
            &[],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.json["project"]["name"], project_name);
    for body in [
        json!({ "name": "a\u{0}b" }),
        json!({ "name": "p", "description": "a\u{0}b" }),
    ] {
        let reply = app
            .call(Method::POST, "/api/v1/projects", Some(body), &[])
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let identity = app
        .call(
            Method::POST,
            "/api/v1/identities",
            Some(json!({ "type": "machine", "name": "a\u{0}b" })),
            &[],
        )
        .await;
    identity.problem(StatusCode::UNPROCESSABLE_ENTITY);
    // `-` is in the names, so a literal search still finds them: the filter works at all.
    let hyphen = app
        .call(
            Method::GET,
            &format!("{CONNECTIONS}?projectId={}&search=-conn", ids.project),
            None,
            &[],
        )
        .await;
    assert_eq!(list_items(&hyphen.json), 2, "{}", hyphen.text);
}

fn list_items(json: &Value) -> usize {
    [
        "appConnections",
        "secretRotations",
        "auditLogs",
        "events",
        "items",
    ]
    .iter()
    .find_map(|k| json[k].as_array().map(Vec::len))
    .unwrap_or(usize::MAX)
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn path_encode(value: &str) -> String {
    form_encode(value)
}

// ---------------------------------------------------------------------------------------------
// 7. Token replay after revoke and after the identity is disabled
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn dead_tokens_are_refused_on_every_route(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    let revoked = app
        .identity("revoked", Some((&app.project_id, "admin")))
        .await;
    let disabled = app
        .identity("disabled", Some((&app.project_id, "admin")))
        .await;
    let reply = app
        .call_as(
            Some(&revoked.token),
            Method::POST,
            "/api/v1/auth/token/revoke",
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = app
        .call(
            Method::PATCH,
            &format!("/api/v1/identities/{}", disabled.id),
            Some(json!({ "disabled": true })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let before = app.dump().await;
    let mut count = 0;
    for (method, route) in api::route_table() {
        if PUBLIC.contains(&route) {
            continue;
        }
        let path = ids.fill(route);
        for (who, token) in [("revoked", &revoked.token), ("disabled", &disabled.token)] {
            let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
            let reply = app
                .call_as(Some(token), method.clone(), &path, body, &[])
                .await;
            refused(
                &reply,
                &[StatusCode::UNAUTHORIZED],
                &format!("{who}: {method} {route}"),
            );
            assert_eq!(reply.headers["www-authenticate"], "Bearer");
            count += 1;
        }
    }
    assert!(count >= 80, "{count}");
    unchanged(&app, &before, "a dead token changed the database").await;
}

// ---------------------------------------------------------------------------------------------
// 8. Another project's ids on every route
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn other_projects_ids_are_unknown_on_every_route(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let home = world(&app).await;
    // Project B, with everything a route could point at, made by the instance admin.
    let b = app.project("team-b").await;
    let b_conn = connection_in(&app, &b, "b-conn").await;
    let b_conn_id = b_conn["id"].as_str().expect("id").to_owned();
    let b_rot = rotation_in(&app, &b, "b-rot", &b_conn_id).await;
    let b_key = key_rotation_in(&app, &b, "b-key", &b_conn_id).await;
    app.run_worker().await;
    let b_member = app.identity("b-member", Some((&b, "admin"))).await;
    let (b_env, b_folder, b_secret) = secrets_in(&app, &b, "b-folder").await;
    let (b_webhook, b_delivery) = webhook_in(&app, &b).await;
    let b_stream = stream_in(&app, &b).await;
    let theirs = Ids {
        webhook: b_webhook,
        delivery: b_delivery,
        stream: b_stream,
        project: b.clone(),
        connection: b_conn_id.clone(),
        connection_name: "b-conn".to_owned(),
        rotation: b_rot["id"].as_str().expect("id").to_owned(),
        rotation_name: "b-rot".to_owned(),
        key_rotation: b_key["id"].as_str().expect("id").to_owned(),
        key_rotation_name: "b-key".to_owned(),
        member: b_member.id.clone(),
        environment: b_env,
        folder: b_folder,
        secret_name: b_secret,
    };
    // An admin of project A only: the strongest caller who must still not see B.
    let a_admin = app
        .identity("a-admin", Some((&app.project_id, "admin")))
        .await;
    // B's admin made a connection under an idempotency key; A's admin replays key and body.
    let keyed_body = {
        let mut body = app.connection_body("b-keyed");
        body["projectId"] = json!(b);
        body
    };
    let first = app
        .call_as(
            Some(&b_member.token),
            Method::POST,
            CONNECTIONS,
            Some(keyed_body.clone()),
            &[("idempotency-key", "shared-key")],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let before = app.dump().await;

    let mut checked = BTreeSet::new();
    for (method, route) in api::route_table() {
        if PUBLIC.contains(&route) || UNSCOPED.contains(&route) {
            continue;
        }
        let path = theirs.fill(route);
        let body = match (method.as_str(), route) {
            ("POST", CONNECTIONS) => Some(keyed_body.clone()),
            ("POST", ROTATIONS) => {
                let mut body = app.rotation_body("sneaky", &b_conn_id, TARGET_ID);
                body["projectId"] = json!(b);
                Some(body)
            }
            ("POST", KEY_ROTATIONS) => {
                let mut body = app.key_rotation_body("sneaky", &b_conn_id, TARGET_ID);
                body["projectId"] = json!(b);
                Some(body)
            }
            ("POST", "/api/v1/webhooks") => Some(json!({
                "projectId": b, "url": "https://hooks.example.com/sneaky", "eventTypes": ["*"],
            })),
            ("POST", "/api/v1/audit-log-streams") => Some(json!({
                "projectId": b, "url": "https://intake.example.com/sneaky",
            })),
            ("POST", "/api/v1/projects/{projectId}/memberships") => {
                Some(json!({ "identityId": a_admin.id, "role": "admin" }))
            }
            ("PATCH", "/api/v1/projects/{projectId}/memberships/{identityId}") => {
                Some(json!({ "role": "viewer" }))
            }
            ("POST", "/api/v1/app-connections/auth0/{connectionId}/users") => Some(json!({
                "connection": DB_CONNECTION, "email": "sneaky@acme.test", "password": "Sneaky-Passw0rd!",
            })),
            ("PATCH", "/api/v1/app-connections/auth0/{connectionId}/users/{userId}") => {
                Some(json!({ "user_metadata": { "sneaky": true } }))
            }
            ("POST", "/api/v1/workspace/{workspaceId}/environments") => {
                Some(json!({ "name": "sneaky", "slug": "sneaky" }))
            }
            ("PATCH", "/api/v1/workspace/{workspaceId}/environments/{envId}") => {
                Some(json!({ "name": "sneaky" }))
            }
            ("POST", "/api/v2/folders" | "/api/v1/folders") => {
                Some(json!({ "projectId": b, "environment": "dev", "name": "sneaky" }))
            }
            ("POST" | "PATCH", "/api/v3/secrets/raw/{secretName}") => {
                Some(json!({ "workspaceId": b, "environment": "dev", "secretValue": "sneaky" }))
            }
            ("DELETE", "/api/v3/secrets/raw/{secretName}") => {
                Some(json!({ "workspaceId": b, "environment": "dev" }))
            }
            (_, r) if r.ends_with("refresh-token-exchange") => {
                Some(json!({ "clientId": VAULT_READY_ID }))
            }
            (_, r) if r.ends_with("access-token-exchange") => Some(json!({
                "apiIdentifier": VAULT_API, "apiName": "Vault API", "scopes": [],
            })),
            ("POST" | "PATCH", _) if !BODYLESS_POSTS.contains(&route) => {
                Some(json!({ "description": "mine now" }))
            }
            _ => None,
        };
        let reply = app
            .call_as(
                Some(&a_admin.token),
                method.clone(),
                &path,
                body,
                &[("idempotency-key", "shared-key")],
            )
            .await;
        refused(
            &reply,
            &[StatusCode::NOT_FOUND],
            &format!("{method} {route}"),
        );
        assert!(
            reply.headers.get("idempotent-replayed").is_none(),
            "{method} {route}"
        );
        assert!(
            !reply.text.contains("b-conn") && !reply.text.contains(&b_conn_id),
            "{}",
            reply.text
        );
        checked.insert((method.to_string(), route));
    }
    assert!(checked.len() >= 30, "{checked:?}");

    // Mixing: A's own project with B's resources.
    let mut mixed_rotation = app.rotation_body("mixed", &b_conn_id, TARGET_ID);
    mixed_rotation["projectId"] = json!(home.project);
    let mixed: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, ROTATIONS.to_owned(), Some(mixed_rotation)),
        (
            Method::GET,
            format!(
                "{CONNECTIONS}/connection-name/b-conn?projectId={}",
                home.project
            ),
            None,
        ),
        (
            Method::GET,
            format!("{ROTATIONS}/rotation-name/b-rot?projectId={}", home.project),
            None,
        ),
        (
            Method::DELETE,
            format!(
                "/api/v1/projects/{}/memberships/{}",
                home.project, b_member.id
            ),
            None,
        ),
        (
            Method::PATCH,
            format!(
                "/api/v1/projects/{}/memberships/{}",
                home.project, b_member.id
            ),
            Some(json!({ "role": "viewer" })),
        ),
    ];
    for (method, path, body) in mixed {
        let reply = app
            .call_as(Some(&a_admin.token), method.clone(), &path, body, &[])
            .await;
        refused(
            &reply,
            &[StatusCode::NOT_FOUND],
            &format!("{method} {path}"),
        );
    }
    // A list filtered by B's connection answers exactly as for an id that does not exist.
    let filter = |id: &str| format!("{ROTATIONS}?projectId={}&connectionId={id}", home.project);
    let theirs_list = app
        .call_as(
            Some(&a_admin.token),
            Method::GET,
            &filter(&b_conn_id),
            None,
            &[],
        )
        .await;
    let unknown_list = app
        .call_as(
            Some(&a_admin.token),
            Method::GET,
            &filter(&uuid::Uuid::now_v7().to_string()),
            None,
            &[],
        )
        .await;
    assert_eq!(
        theirs_list.status, unknown_list.status,
        "{}",
        theirs_list.text
    );
    assert_eq!(theirs_list.json, unknown_list.json);
    // Unfiltered lists show A's rows only.
    let audit = app
        .call_as(
            Some(&a_admin.token),
            Method::GET,
            &format!("/api/v1/audit-logs?projectId={}", home.project),
            None,
            &[],
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    assert!(
        !audit.text.contains(&b) && !audit.text.contains(&b_conn_id),
        "{}",
        audit.text
    );
    let projects = app
        .call_as(
            Some(&a_admin.token),
            Method::GET,
            "/api/v1/projects",
            None,
            &[],
        )
        .await;
    assert!(!projects.text.contains(&b), "{}", projects.text);
    unchanged(&app, &before, "another project's id changed the database").await;
}

// ---------------------------------------------------------------------------------------------
// 9. Made-up methods and paths as metric labels
// ---------------------------------------------------------------------------------------------

/// `(method, route)` of every `keyhold_http_requests_total` series in a `/metrics` text.
fn request_series(text: &str) -> Vec<(String, String)> {
    let label = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let len = line.get(start..)?.find('"')?;
        line.get(start..start + len).map(str::to_owned)
    };
    text.lines()
        .filter(|l| l.starts_with("keyhold_http_requests_total{"))
        .filter_map(|l| Some((label(l, "method")?, label(l, "route")?)))
        .collect()
}

/// Issue 14, item 2: anyone can send any method and path, and every label set is a series held in
/// memory for good, so labels come from closed sets (known methods else `other`, route templates
/// else `unmatched`). Other tests share the process-wide recorder, so the assertions are about
/// what the labels may be rather than an exact count.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn metrics_labels_stay_a_closed_set_under_random_methods_and_paths(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let hostile = |text: &str| {
        request_series(text)
            .into_iter()
            .filter(|(m, r)| m == "other" || r == "unmatched")
            .count()
    };
    let before = app.call(Method::GET, "/metrics", None, &[]).await;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut sent = Vec::new();
    for n in 0..3_000 {
        let len = if n % 100 == 0 { 2048 } else { 4 + next() % 12 };
        let token: String = (0..len)
            .map(|_| char::from(b'A' + (next() % 26) as u8))
            .collect();
        let method = Method::from_bytes(token.as_bytes()).expect("token");
        let path = match n % 3 {
            0 => "/healthz".to_owned(),
            1 => format!("/api/v1/{}", token.to_lowercase()),
            _ => format!("/api/v1/app-connections/auth0/{}", token.to_lowercase()),
        };
        let method = if n % 2 == 0 { method } else { Method::GET };
        let request = axum::http::Request::builder()
            .method(method)
            .uri(&path)
            .body(axum::body::Body::empty())
            .expect("request");
        let reply = app.router.clone().oneshot(request).await.expect("reply");
        assert!(reply.status().is_client_error() || reply.status().is_success());
        if n < 50 {
            sent.push(token);
        }
    }
    let after = app.call(Method::GET, "/metrics", None, &[]).await;
    let templates: Vec<&str> = api::route_table().into_iter().map(|(_, r)| r).collect();
    let known = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
    ];
    for (method, route) in request_series(&after.text) {
        assert!(
            known.contains(&method.as_str()),
            "method label {method:.40}"
        );
        assert!(
            route == "unmatched" || route.starts_with("/ui") || templates.contains(&route.as_str()),
            "route label {route:.60}"
        );
    }
    for token in &sent {
        assert!(
            !after.text.contains(token.as_str()),
            "{token:.40} became a label"
        );
    }
    // At most a handful of (route, status) pairs for `other` and `unmatched`, however many sent.
    assert!(
        hostile(&after.text) <= hostile(&before.text) + 12,
        "{} -> {}",
        hostile(&before.text),
        hostile(&after.text)
    );
}

// ---------------------------------------------------------------------------------------------
// 10. NUL smuggled into SQL text through cursors and query parameters
// ---------------------------------------------------------------------------------------------

/// Issue 14, item 8: a cursor is base64, so a NUL inside it passed every character check and
/// PostgreSQL answered the query with an error (500). Every list refuses forged cursors, and no
/// query parameter with a NUL reaches a handler, on any GET route.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn nul_in_cursors_and_queries_is_refused_on_every_list(pool: PgPool) {
    use base64::Engine as _;
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    let before = app.dump().await;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let id = uuid::Uuid::now_v7();
    let forged = [
        b64(&format!("{id}\n\u{0}")),
        b64(&format!("{id}\nhome\u{0}conn")),
        b64(&format!("{}\nhome-conn", id.to_string().to_uppercase())),
        b64("\u{0}\n\u{0}"),
        "%00".to_owned(),
        format!("{}%00", b64(&format!("{id}\nhome-conn"))),
    ];
    let lists = [
        "/api/v1/app-connections",
        CONNECTIONS,
        "/api/v1/identities",
        "/api/v1/projects",
        "/api/v2/secret-rotations",
        ROTATIONS,
        "/api/v1/audit-logs",
    ];
    let with = |route: &str, query: &str| {
        let path = ids.fill(route);
        let join = if path.contains('?') { '&' } else { '?' };
        format!("{path}{join}{query}")
    };
    for route in lists {
        for cursor in &forged {
            let reply = app
                .call(
                    Method::GET,
                    &with(route, &format!("cursor={cursor}")),
                    None,
                    &[],
                )
                .await;
            refused(&reply, &[StatusCode::UNPROCESSABLE_ENTITY], route);
            assert_eq!(reply.fields(), ["cursor"], "{route}: {}", reply.text);
            assert!(!reply.text.contains(cursor.as_str()), "{}", reply.text);
        }
    }
    unchanged(&app, &before, "a forged cursor changed the database").await;
    // Every GET route, with a NUL in a cursor, a search and a parameter it does not take: a
    // refusal or an answer (reads through a connection are audited), never a server error.
    let mut count = 0;
    for (method, route) in api::route_table() {
        if method != Method::GET {
            continue;
        }
        for query in [
            format!("cursor={}", forged[0]),
            "search=a%00b".to_owned(),
            "name=%00".to_owned(),
            "limit=1%00".to_owned(),
        ] {
            let path = with(route, &query);
            let reply = app.call(Method::GET, &path, None, &[]).await;
            assert!(
                reply.status.is_success() || reply.status.is_client_error(),
                "{path}: {} {}",
                reply.status,
                reply.text
            );
            if !reply.status.is_success() {
                reply.problem(reply.status);
            }
            count += 1;
        }
    }
    assert!(count >= 60, "{count}");
}

// ---------------------------------------------------------------------------------------------
// 11. Invisible and line-breaking characters in names, emails and descriptions
// ---------------------------------------------------------------------------------------------

/// Characters that hide or reorder text: zero-width, bidi marks, overrides and isolates, BOM,
/// soft hyphen, a tag character (all Unicode Cf), and line breaks.
const HIDDEN: &[&str] = &[
    "\u{200b}",
    "\u{200d}",
    "\u{200e}",
    "\u{202e}",
    "\u{2066}",
    "\u{2069}",
    "\u{feff}",
    "\u{ad}",
    "\u{e0041}",
    "\u{2028}",
    "\r\n",
    "\n",
    "\u{1b}[31m",
];

/// Issue 14, item 10: names and emails took zero-width and bidi-override characters, and an
/// email took CRLF. Every name-like field refuses them (descriptions keep their line breaks),
/// with a 422 naming the field and never the value.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hidden_characters_in_names_and_emails_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    let connection_path = format!("{CONNECTIONS}/{}", ids.connection);
    let rotation_path = format!("{ROTATIONS}/{}", ids.rotation);
    let identity_path = format!("/api/v1/identities/{}", ids.member);
    let users_path = format!("{connection_path}/users");
    let before = app.dump().await;
    let mut count = 0;
    for hidden in HIDDEN {
        let value = format!("Evil{hidden}Name");
        let email = format!("evil{hidden}@acme.test");
        let line_break = hidden.contains('\n') || *hidden == "\u{2028}";
        let mut cases: Vec<(Method, String, Value, &str)> = vec![
            (
                Method::POST,
                "/api/v1/projects".into(),
                json!({ "name": value }),
                "name",
            ),
            (
                Method::POST,
                CONNECTIONS.into(),
                {
                    let mut body = app.connection_body("x");
                    body["name"] = json!(value);
                    body
                },
                "name",
            ),
            (
                Method::PATCH,
                connection_path.clone(),
                json!({ "name": value }),
                "name",
            ),
            (
                Method::PATCH,
                rotation_path.clone(),
                json!({ "name": value }),
                "name",
            ),
            (
                Method::POST,
                "/api/v1/identities".into(),
                json!({ "type": "machine", "name": value }),
                "name",
            ),
            (
                Method::PATCH,
                identity_path.clone(),
                json!({ "name": value }),
                "name",
            ),
            (
                Method::POST,
                "/api/v1/identities".into(),
                json!({ "type": "user", "name": "u", "email": email, "password": "Long-enough-passw0rd" }),
                "email",
            ),
            (
                Method::POST,
                users_path.clone(),
                json!({ "connection": DB_CONNECTION, "email": email, "password": "Sneaky-Passw0rd!" }),
                "email",
            ),
            (
                Method::POST,
                users_path.clone(),
                json!({ "connection": DB_CONNECTION, "email": "fine@acme.test", "password": "Sneaky-Passw0rd!", "name": value }),
                "name",
            ),
        ];
        if !line_break {
            // Free text keeps its line breaks; everything else hidden is refused there too.
            cases.extend([
                (
                    Method::POST,
                    "/api/v1/projects".into(),
                    json!({ "name": "p", "description": value }),
                    "description",
                ),
                (
                    Method::PATCH,
                    connection_path.clone(),
                    json!({ "description": value }),
                    "description",
                ),
                (
                    Method::PATCH,
                    rotation_path.clone(),
                    json!({ "description": value }),
                    "description",
                ),
            ]);
        }
        for (method, path, body, field) in cases {
            let reply = app.call(method.clone(), &path, Some(body), &[]).await;
            let case = format!("{method} {path} {field} {hidden:?}");
            refused(&reply, &[StatusCode::UNPROCESSABLE_ENTITY], &case);
            assert_eq!(reply.fields(), [field], "{case}: {}", reply.text);
            assert!(
                !reply.text.contains("Evil") && !reply.text.contains("evil"),
                "{case}: echoed {}",
                reply.text
            );
            count += 1;
        }
    }
    assert!(count > 100, "{count}");
    unchanged_but(
        &app,
        &before,
        "a hidden character changed the database",
        true,
    )
    .await;

    // Visible text in any script, and line breaks in descriptions, are still welcome.
    let made = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "Équipe 日本 עברית", "description": "line one\nline two" })),
            &[],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
}

// ---------------------------------------------------------------------------------------------
// 12. Bodies trickled past the body-read deadline, on every body route
// ---------------------------------------------------------------------------------------------

/// Issue 14, item 4: the request timeout does not bound how long a body may take to arrive. A body
/// still arriving at the deadline (here 300 ms, one byte every 50 ms) answers a 408 problem that
/// closes the connection, on every POST/PATCH route, public ones included, and nothing is written.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn trickled_bodies_time_out_on_every_body_route(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ids = world(&app).await;
    let deadline = std::time::Duration::from_millis(300);
    let router = api::app(app.state.clone().with_body_read_timeout(deadline));
    let before = app.dump().await;
    let bearer = format!("Bearer {}", app.admin_token);
    for (method, route) in body_routes() {
        let path = ids.fill(route);
        let trickle = futures_util::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let chunk = if n == 0 { "{" } else { " " };
            Some((Ok::<_, std::io::Error>(chunk), n + 1))
        });
        let request = Request::builder()
            .method(method.clone())
            .uri(&path)
            .header("content-type", "application/json")
            .header("authorization", &bearer)
            .body(Body::from_stream(trickle))
            .expect("request");
        let started = std::time::Instant::now();
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            router.clone().oneshot(request),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {route}: no answer in 5 s"))
        .expect("infallible");
        let after = started.elapsed();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let reply = Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        crate::openapi::check(&method, &path, None, &reply);
        let case = format!("{method} {route}");
        refused(&reply, &[StatusCode::REQUEST_TIMEOUT], &case);
        assert_eq!(reply.json["type"], "urn:keyhold:problem:request-timeout");
        assert_eq!(reply.headers["connection"], "close", "{case}");
        assert!(
            after >= deadline && after < std::time::Duration::from_secs(3),
            "{case}: {after:?}"
        );
    }
    unchanged(&app, &before, "a trickled body changed the database").await;
}

// ---------------------------------------------------------------------------------------------
// 13. Escaping a narrowed membership, and reference loops
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn narrowed_scopes_cannot_be_escaped_and_reference_loops_are_refused(pool: PgPool) {
    const HIDDEN: &str = "CANARY-outside-the-scope-3b1f";
    let app = TestApp::new(pool).await;
    for (env, parent, name) in [
        ("prod", "/", "orders"),
        ("prod", "/", "billing"),
        ("prod", "/", "ordersx"),
    ] {
        app.folder(env, parent, name).await;
    }
    app.secret("prod", "/billing", "KEY", HIDDEN).await;
    app.secret("prod", "/ordersx", "KEY", HIDDEN).await;
    app.secret("prod", "/", "KEY", HIDDEN).await;
    app.secret("dev", "/", "KEY", HIDDEN).await;
    app.secret("prod", "/orders", "LOOP_A", "${LOOP_B}").await;
    app.secret("prod", "/orders", "LOOP_B", "${prod.orders.LOOP_A}")
        .await;
    app.secret("prod", "/orders", "SELF", "x${SELF}").await;
    let narrowed = app
        .narrowed("escape-artist", "member", json!(["prod"]), json!("/orders"))
        .await;
    let before = app.dump().await;

    // Spellings of places outside `/orders` of `prod`: each refused before any lookup.
    let paths = [
        "/orders/..",
        "/orders/../billing",
        "/orders/./..",
        "%2Forders%2F..%2Fbilling",
        "/orders%2F..%2Fbilling",
        "/orders/%2e%2e/billing",
        "/orders//../billing",
        "/ordersx",
        "/Orders",
        "/orders\\..\\billing",
        "/orders%00",
        "/",
        "",
    ];
    for path in paths {
        for env in ["prod", "PROD", "prod%20", "dev"] {
            let query = format!(
                "workspaceId={}&environment={env}&secretPath={path}&expandSecretReferences=false",
                app.project_id
            );
            for route in ["/api/v3/secrets/raw/KEY", "/api/v3/secrets/raw"] {
                let reply = app
                    .call_as(
                        Some(&narrowed.token),
                        Method::GET,
                        &format!("{route}?{query}"),
                        None,
                        &[],
                    )
                    .await;
                let case = format!("GET {route} env={env} path={path}");
                if reply.status == StatusCode::OK {
                    // Only a list of a folder leading to the scope answers, and empty.
                    assert_eq!(route, "/api/v3/secrets/raw", "{case}");
                    assert_eq!(reply.json["secrets"], json!([]), "{case}: {}", reply.text);
                } else {
                    refused(
                        &reply,
                        &[
                            StatusCode::FORBIDDEN,
                            StatusCode::NOT_FOUND,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            StatusCode::BAD_REQUEST,
                        ],
                        &case,
                    );
                }
                assert!(!reply.text.contains(HIDDEN), "{case}");
            }
            let write = app
                .call_as(
                    Some(&narrowed.token),
                    Method::POST,
                    "/api/v3/secrets/raw/PLANTED",
                    Some(json!({
                        "workspaceId": app.project_id,
                        "environment": env,
                        "secretPath": path,
                        "secretValue": "planted",
                    })),
                    &[],
                )
                .await;
            refused(
                &write,
                &[StatusCode::FORBIDDEN, StatusCode::UNPROCESSABLE_ENTITY],
                &format!("POST env={env} path={path}"),
            );
        }
    }

    // Loops inside the scope: refused naming the secrets, never a value.
    for name in ["LOOP_A", "LOOP_B", "SELF"] {
        let reply = app
            .call_as(
                Some(&narrowed.token),
                Method::GET,
                &format!(
                    "/api/v3/secrets/raw/{name}?workspaceId={}&environment=prod&secretPath=%2Forders&expandSecretReferences=true",
                    app.project_id
                ),
                None,
                &[],
            )
            .await;
        refused(&reply, &[StatusCode::UNPROCESSABLE_ENTITY], name);
        assert!(
            reply.json["detail"]
                .as_str()
                .is_some_and(|d| d.contains("cycle") && d.contains(name)),
            "{name}: {}",
            reply.text
        );
        assert!(!reply.text.contains("x${"), "{name}");
    }
    // Refused reads write no audit row; the lists of `/` that answered audited an empty read.
    let (old, new) = (rows(&before), rows(&app.dump().await));
    let gone: Vec<_> = old.difference(&new).collect();
    let added: Vec<_> = new
        .difference(&old)
        .filter(|(table, row)| {
            !(table == "audit_events"
                && row.contains(",secret.list,")
                && row.contains(r#"""secrets"": []"#))
        })
        .collect();
    assert!(
        gone.is_empty() && added.is_empty(),
        "escaping a narrowed scope changed the database:\n  gone: {gone:#?}\n  added: {added:#?}"
    );
}

/// A rotation's secret mapping (issue 16): traversal and odd bytes in `secretPath`, names that
/// break the secret name rules, unknown environments (another project's included), and names
/// another rotation writes. Every case is a 4xx problem that never echoes the value, and nothing
/// changes.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_rotation_mappings_are_refused_and_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("mapped-conn").await;
    let conn_id = connection["id"].as_str().expect("id").to_owned();
    let mapped = |name: &str, path: &str, names: (&str, &str)| {
        let mut body = app.rotation_body(name, &conn_id, TARGET_ID);
        body["environment"] = json!("prod");
        body["secretPath"] = json!(path);
        body["secretsMapping"] = json!({ "clientId": names.0, "clientSecret": names.1 });
        body
    };
    let owner = app
        .call(
            Method::POST,
            ROTATIONS,
            Some(mapped("owner", "/orders", ("OWNED_ID", "OWNED_SECRET"))),
            &[],
        )
        .await;
    assert_eq!(owner.status, StatusCode::CREATED, "{}", owner.text);
    let plain = rotation_in(&app, &app.project_id, "plain", &conn_id).await;
    let plain_path = format!("{ROTATIONS}/{}", plain["id"].as_str().expect("id"));
    // An environment only another project has.
    let made = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "team-b" })),
            &[],
        )
        .await;
    let b = made.json["project"]["id"].as_str().expect("id").to_owned();
    let env = app
        .call(
            Method::POST,
            &format!("/api/v1/workspace/{b}/environments"),
            Some(json!({ "name": "b-only", "slug": "b-only" })),
            &[],
        )
        .await;
    assert_eq!(env.status, StatusCode::OK, "{}", env.text);
    app.run_worker().await;
    let before = app.dump().await;

    let long_path = format!("/{}", "a".repeat(4096));
    let long_name = "N".repeat(300);
    let mut cases: Vec<(String, Value)> = Vec::new();
    for path in [
        "/orders/..",
        "/..",
        "//",
        "/orders//x",
        "/%2e%2e",
        "/a\0b",
        "\\orders",
        "orders",
        &long_path,
    ] {
        cases.push((
            format!("secretPath {path:?}"),
            mapped("bad", path, ("A_ID", "A_SECRET")),
        ));
    }
    for name in [
        "WITH SPACE",
        "ÜNICODE",
        "A=B",
        "NUL\0",
        "",
        &long_name,
        "../X",
    ] {
        cases.push((
            format!("name {name:?}"),
            mapped("bad", "/orders", (name, "A_SECRET")),
        ));
        cases.push((
            format!("name {name:?}"),
            mapped("bad", "/orders", ("A_ID", name)),
        ));
    }
    for env in ["qa", "b-only", "PROD", "pr\0d", "../prod", ""] {
        let mut body = mapped("bad", "/orders", ("A_ID", "A_SECRET"));
        body["environment"] = json!(env);
        cases.push((format!("environment {env:?}"), body));
    }
    cases.push((
        "missing folder".into(),
        mapped("bad", "/billing", ("A_ID", "A_SECRET")),
    ));
    cases.push((
        "clash".into(),
        mapped("bad", "/orders", ("A_ID", "OWNED_SECRET")),
    ));
    cases.push((
        "same names".into(),
        mapped("bad", "/orders", ("A_ID", "A_ID")),
    ));
    for odd in [
        json!("A_ID"),
        json!(["A_ID", "A_SECRET"]),
        json!({ "clientId": "A_ID" }),
        json!({ "clientId": "A_ID", "clientSecret": "A_SECRET", "extra": "x" }),
        json!({ "clientId": 1, "clientSecret": "A_SECRET" }),
    ] {
        let mut body = mapped("bad", "/orders", ("A_ID", "A_SECRET"));
        body["secretsMapping"] = odd.clone();
        cases.push((format!("secretsMapping {odd}"), body));
    }
    let allowed = [
        StatusCode::BAD_REQUEST,
        StatusCode::NOT_FOUND,
        StatusCode::CONFLICT,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    for (case, body) in &cases {
        let created = app
            .call(Method::POST, ROTATIONS, Some(body.clone()), &[])
            .await;
        refused(&created, &allowed, &format!("create: {case}"));
        let mut patch = json!({});
        for field in ["environment", "secretPath", "secretsMapping"] {
            patch[field] = body[field].clone();
        }
        let patched = app.call(Method::PATCH, &plain_path, Some(patch), &[]).await;
        refused(&patched, &allowed, &format!("update: {case}"));
        for reply in [&created, &patched] {
            for echoed in [
                "WITH SPACE",
                "ÜNICODE",
                "A=B",
                "b-only",
                "%2e%2e",
                &long_name,
            ] {
                assert!(
                    !reply.text.contains(echoed),
                    "{case} echoed: {}",
                    reply.text
                );
            }
        }
    }
    unchanged(&app, &before, "hostile rotation mappings").await;
}

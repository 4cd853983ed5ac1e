//! The connection lifecycle against the emulator: create, read, list, update, delete.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{CLIENT_ID, DOMAIN, TestApp};

const BASE: &str = "/api/v1/app-connections/auth0";

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn create_returns_the_connection_without_its_secret(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let reply = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("billing")),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let c = &reply.json["appConnection"];
    assert_eq!(c["name"], "billing");
    assert_eq!(c["app"], "auth0");
    assert_eq!(c["method"], "client-credentials");
    assert_eq!(c["projectId"], app.project_id.as_str());
    assert_eq!(c["version"], 1);
    assert!(c["orgId"].as_str().is_some());
    assert!(c["createdAt"].as_str().is_some() && c["updatedAt"].as_str().is_some());
    assert_eq!(
        c["credentials"],
        json!({ "domain": DOMAIN, "clientId": CLIENT_ID, "audience": format!("https://{DOMAIN}/api/v2/") })
    );
    assert!(!reply.text.contains(&app.secret));
    assert_eq!(reply.headers["etag"], "\"1\"");
    // Auth0 was asked: one token issued for the validation.
    let counters = app.emulator.admin().counters(DOMAIN).expect("tenant");
    assert_eq!(counters.tokens_issued, 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_stored_secret_is_sealed_and_opens_only_for_its_row(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("sealed").await;
    let id = created["id"].as_str().expect("id");
    let sealed: Vec<u8> =
        sqlx::query_scalar("select client_secret_sealed from app_connections where id = $1::uuid")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("row");
    let as_text = String::from_utf8_lossy(&sealed);
    assert!(!as_text.contains(&app.secret));
    assert_eq!(
        crypto::RootKeyring::envelope_key_id(&sealed).expect("envelope"),
        "test"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn get_by_id_and_by_name(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("lookup").await;
    let id = created["id"].as_str().expect("id");

    let by_id = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.text);
    assert_eq!(by_id.json["appConnection"], created);

    let path = format!("{BASE}/connection-name/lookup?projectId={}", app.project_id);
    let by_name = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(by_name.status, StatusCode::OK, "{}", by_name.text);
    assert_eq!(by_name.json["appConnection"]["id"], id);

    let missing = app
        .call(
            Method::GET,
            &format!("{BASE}/{}", uuid::Uuid::now_v7()),
            None,
            &[],
        )
        .await;
    missing.problem(StatusCode::NOT_FOUND);
    let path = format!("{BASE}/connection-name/nope?projectId={}", app.project_id);
    app.call(Method::GET, &path, None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    let no_project = format!("{BASE}/connection-name/lookup");
    let reply = app.call(Method::GET, &no_project, None, &[]).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn list_pages_by_name_with_search(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        app.create(name).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("{BASE}?projectId={}&limit=2", app.project_id);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = app.call(Method::GET, &path, None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        pages += 1;
        // Every page counts all the matches, not what is left after its cursor.
        assert_eq!(reply.json["totalCount"], 5, "{}", reply.text);
        for c in reply.json["appConnections"].as_array().expect("list") {
            names.push(c["name"].as_str().expect("name").to_owned());
        }
        match reply.json["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert_eq!(pages, 3);

    let path = format!("{BASE}?projectId={}&search=HAR", app.project_id);
    let reply = app.call(Method::GET, &path, None, &[]).await;
    let found: Vec<&str> = reply.json["appConnections"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(found, ["charlie"]);
    assert_eq!(reply.json["totalCount"], 1, "{}", reply.text);

    // The all-apps list for dashboards sees the same connections, across projects when unfiltered.
    let all = app
        .call(Method::GET, "/api/v1/app-connections?limit=500", None, &[])
        .await;
    assert_eq!(all.json["appConnections"].as_array().map(Vec::len), Some(5));
    assert!(!all.text.contains(&app.secret));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn options_lists_auth0_and_its_methods(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let reply = app
        .call(Method::GET, "/api/v1/app-connections/options", None, &[])
        .await;
    let auth0 = &reply.json["appConnectionOptions"][0];
    assert_eq!(
        reply.json["appConnectionOptions"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(auth0["name"], "Auth0");
    assert_eq!(auth0["app"], "auth0");
    assert_eq!(
        auth0["methods"],
        json!(["client-credentials", "private-key-jwt"])
    );
    // The scopes to grant for each capability: the very table a connection's scope check uses.
    let connection = app.create("scope-table").await;
    let checked = app
        .call(
            Method::POST,
            &format!("{BASE}/{}/validate", connection["id"].as_str().expect("id")),
            None,
            &[],
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text);
    let from_check: Vec<serde_json::Value> = checked.json["diagnostics"]["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .map(|c| json!({ "capability": c["capability"], "description": c["description"], "requiredScopes": c["requiredScopes"] }))
        .collect();
    assert!(!from_check.is_empty());
    assert_eq!(auth0["capabilities"], json!(from_check));
    let rotate = auth0["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .find(|c| c["capability"] == "rotateClientSecrets")
        .expect("rotateClientSecrets");
    assert!(
        rotate["requiredScopes"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("update:client_keys"))),
        "{rotate}"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn duplicate_names_conflict_within_a_project_only(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.create("dup-name-canary").await;
    let reply = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("dup-name-canary")),
            &[],
        )
        .await;
    reply.problem(StatusCode::CONFLICT);
    assert_eq!(reply.fields(), ["name"]);
    assert!(
        !reply.text.contains("dup-name-canary"),
        "a 409 names the field, not the value: {}",
        reply.text
    );

    let mut body = app.connection_body("dup-name-canary");
    body["projectId"] = json!(app.project("team-b").await);
    let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn auth0_refusals_name_the_field_to_fix_and_store_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let cases = [
        (
            "credentials.clientSecret",
            json!({ "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": "wrong" }),
        ),
        (
            "credentials.clientSecret",
            json!({ "domain": DOMAIN, "clientId": "unknownClient", "clientSecret": "x" }),
        ),
        (
            "credentials.audience",
            json!({ "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": app.secret, "audience": "https://other.example/api" }),
        ),
        (
            "credentials.domain",
            json!({ "domain": "nosuchtenant.auth0.test", "clientId": CLIENT_ID, "clientSecret": app.secret }),
        ),
    ];
    for (field, credentials) in cases {
        let mut body = app.connection_body("refused");
        body["credentials"] = credentials;
        let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
        let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            problem["type"], "urn:keyhold:problem:auth0-rejected",
            "{}",
            reply.text
        );
        assert_eq!(reply.fields(), [field], "{}", reply.text);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from app_connections")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn patch_changes_fields_bumps_version_and_honours_if_match(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("before").await;
    let path = format!("{BASE}/{}", created["id"].as_str().expect("id"));

    let renamed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "after", "description": "billing" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json["appConnection"]["name"], "after");
    assert_eq!(renamed.json["appConnection"]["description"], "billing");
    assert_eq!(renamed.json["appConnection"]["version"], 2);
    assert_eq!(renamed.headers["etag"], "\"2\"");

    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "stale" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        stale.problem(StatusCode::PRECONDITION_FAILED)["currentVersion"],
        2
    );

    let cleared = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "description": null })),
            &[],
        )
        .await;
    assert_eq!(
        cleared.json["appConnection"]["description"],
        serde_json::Value::Null
    );
    assert_eq!(cleared.json["appConnection"]["version"], 3);

    // Credentials are replaced as a whole and checked with Auth0 first.
    let wrong = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "credentials": { "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": "nope" } })),
            &[],
        )
        .await;
    wrong.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let unchanged = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(unchanged.json["appConnection"]["version"], 3);

    let creds = json!({ "credentials": { "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": app.secret, "audience": format!("https://{DOMAIN}/api/v2/") } });
    let replaced = app.call(Method::PATCH, &path, Some(creds), &[]).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(replaced.json["appConnection"]["version"], 4);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn delete_returns_the_removed_connection_then_404(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("doomed").await;
    let path = format!("{BASE}/{}", created["id"].as_str().expect("id"));
    app.call(Method::DELETE, &path, None, &[("if-match", "\"7\"")])
        .await
        .problem(StatusCode::PRECONDITION_FAILED);
    let removed = app
        .call(Method::DELETE, &path, None, &[("if-match", "\"1\"")])
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(removed.json["appConnection"]["id"], created["id"]);
    app.call(Method::GET, &path, None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(Method::DELETE, &path, None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn missing_scope_lists_only_connections_lacking_a_scope(pool: PgPool) {
    use crate::support::{NARROW_ID, NARROW_SECRET};
    let app = TestApp::new(pool).await;
    app.create("full").await;
    let mut narrow = app.connection_body("narrow");
    narrow["credentials"]["clientId"] = json!(NARROW_ID);
    narrow["credentials"]["clientSecret"] = json!(NARROW_SECRET);
    let made = app.call(Method::POST, BASE, Some(narrow), &[]).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);

    let all = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    let lacking: Vec<&str> = all.json["appConnections"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| {
            c["scopeSummary"]["lacking"]
                .as_array()
                .is_some_and(|lacking| !lacking.is_empty())
        })
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(lacking.contains(&"narrow"), "{}", all.text);

    let filtered = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}&missingScope=true", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
    let names: Vec<&str> = filtered.json["appConnections"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, lacking);
    assert_eq!(filtered.json["totalCount"], lacking.len());
    let off = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}&missingScope=false", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(off.json["totalCount"], 2, "{}", off.text);
}

/// Reads of connections arriving together are answered by shared statements: each request must
/// still get its own connection, and a connection of another project or organisation must stay
/// a 404 even when it is read in the same statement as the caller's own.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn reads_answered_together_each_get_their_own_connection(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mine: Vec<String> = futures_util::future::join_all(
        (0..3).map(|n| app.create(Box::leak(format!("mine-{n}").into_boxed_str()))),
    )
    .await
    .iter()
    .map(|c| c["id"].as_str().expect("id").to_owned())
    .collect();
    let mut body = app.connection_body("theirs");
    body["projectId"] = json!(app.project("team-b").await);
    let theirs = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
    let theirs = theirs.json["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // A copy of one of mine in another organisation, as if a second instance shared the database.
    let foreign = uuid::Uuid::now_v7();
    sqlx::query(
        "with o as (insert into orgs (id, name) values (gen_random_uuid(), 'other') returning id), \
         p as (insert into projects (id, org_id, name) select gen_random_uuid(), o.id, 'x' from o \
           returning id, org_id) \
         insert into app_connections (id, org_id, project_id, app, method, name, domain, \
           client_id, audience, client_secret_sealed) \
         select $1, p.org_id, p.id, c.app, c.method, c.name, c.domain, c.client_id, c.audience, \
           c.client_secret_sealed from p, app_connections c where c.id = $2::uuid",
    )
    .bind(foreign)
    .bind(&mine[0])
    .execute(&app.pool)
    .await
    .expect("foreign connection");
    let viewer = app
        .identity("reader", Some((&app.project_id, "viewer")))
        .await;

    let asked: Vec<(String, bool)> = (0..48)
        .map(|i| match i % 6 {
            0..=2 => (mine[i % 3].clone(), true),
            3 => (theirs.clone(), false),
            4 => (foreign.to_string(), false),
            _ => (uuid::Uuid::now_v7().to_string(), false),
        })
        .collect();
    let paths: Vec<String> = asked.iter().map(|(id, _)| format!("{BASE}/{id}")).collect();
    // The viewer sees only its project; the instance admin every project of its organisation,
    // and still not the other organisation's row.
    for (token, sees_other_project) in [
        (viewer.token.as_str(), false),
        (app.admin_token.as_str(), true),
    ] {
        let replies = futures_util::future::join_all(
            paths
                .iter()
                .map(|p| app.call_as(Some(token), Method::GET, p, None, &[])),
        )
        .await;
        for ((id, mine), reply) in asked.iter().zip(&replies) {
            if *mine || (sees_other_project && *id == theirs) {
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
                assert_eq!(reply.json["appConnection"]["id"], id.as_str());
            } else {
                reply.problem(StatusCode::NOT_FOUND);
            }
        }
    }
}

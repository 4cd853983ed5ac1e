//! Project secrets behind Infisical's API: environments, folders and `/api/v3/secrets/raw`, with
//! roles, bad input, version history, sealing and audit (issue 16, first slice).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Reply, TestApp};

const VALUE: &str = "CANARY-secret-value-7f3a9c";

impl TestApp {
    /// A new environment of the test project (made by the instance admin).
    pub async fn environment(&self, slug: &str) -> Value {
        let reply = self
            .call(
                Method::POST,
                &format!("/api/v1/workspace/{}/environments", self.project_id),
                Some(json!({ "name": slug, "slug": slug })),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["environment"].clone()
    }

    /// A new folder `name` inside `path` of environment `env` of the test project.
    pub async fn folder(&self, env: &str, path: &str, name: &str) -> Value {
        let body =
            json!({ "projectId": self.project_id, "environment": env, "path": path, "name": name });
        let reply = self
            .call(Method::POST, "/api/v2/folders", Some(body), &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["folder"].clone()
    }

    /// A new secret in the test project.
    pub async fn secret(&self, env: &str, path: &str, name: &str, value: &str) -> Value {
        let reply = self
            .call(
                Method::POST,
                &format!("/api/v3/secrets/raw/{name}"),
                Some(self.secret_body(env, path, Some(value))),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["secret"].clone()
    }

    /// A write body as Infisical's Python SDK sends it (absent fields as null).
    pub fn secret_body(&self, env: &str, path: &str, value: Option<&str>) -> Value {
        json!({
            "workspaceId": self.project_id,
            "projectSlug": null,
            "environment": env,
            "secretPath": path,
            "secretValue": value,
            "secretComment": null,
            "type": "shared",
            "skipMultilineEncoding": false,
            "tagIds": null,
            "secretReminderRepeatDays": null,
            "secretReminderNote": null,
            "secretMetadata": null,
        })
    }

    fn read_query(&self, env: &str, path: &str) -> String {
        format!(
            "workspaceId={}&environment={env}&secretPath={}&viewSecretValue=true&expandSecretReferences=false&include_imports=false",
            self.project_id,
            path.replace('/', "%2F")
        )
    }
}

async fn audit(pool: &PgPool, action: &str) -> Vec<Value> {
    sqlx::query_scalar("select metadata from audit_events where action = $1 order by id")
        .bind(action)
        .fetch_all(pool)
        .await
        .expect("audit")
}

fn keys(reply: &Reply) -> Vec<String> {
    reply.json["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s["secretKey"].as_str().expect("key").to_owned())
        .collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_project_starts_with_dev_staging_and_prod(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let reply = app
        .call(
            Method::GET,
            &format!("/api/v1/workspace/{}/environments", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let slugs: Vec<&str> = reply.json["environments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["dev", "staging", "prod"]);
    // Made by the database, so projects inserted any other way get them too, each with its root.
    let roots: i64 = sqlx::query_scalar(
        "select count(*) from secret_folders f join environments e on e.id = f.environment_id \
         where e.project_id = $1::uuid and f.path = '/'",
    )
    .bind(&app.project_id)
    .fetch_one(&pool)
    .await
    .expect("roots");
    assert_eq!(roots, 3);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn admins_manage_environments_viewers_read_them(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let base = format!("/api/v1/workspace/{}/environments", app.project_id);
    let created = app
        .call(
            Method::POST,
            &base,
            Some(json!({ "name": "QA", "slug": "qa" })),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.json["workspace"], app.project_id);
    assert_eq!(created.json["environment"]["position"], 4);
    let id = created.json["environment"]["id"].as_str().expect("id");
    let again = app
        .call(
            Method::POST,
            &base,
            Some(json!({ "name": "QA 2", "slug": "qa" })),
            &[],
        )
        .await;
    again.problem(StatusCode::CONFLICT);
    for bad in [
        json!({ "name": "x", "slug": "Has Space" }),
        json!({ "name": "", "slug": "ok" }),
    ] {
        let reply = app.call(Method::POST, &base, Some(bad), &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let renamed = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}"),
            Some(json!({ "name": "Quality", "slug": "quality" })),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json["environment"]["slug"], "quality");

    let viewer = app
        .identity("viewer", Some((&app.project_id, "viewer")))
        .await;
    let member = app
        .identity("member", Some((&app.project_id, "member")))
        .await;
    let fetched = app
        .call_as(
            Some(&viewer.token),
            Method::GET,
            &format!("{base}/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(fetched.json["environment"]["name"], "Quality");
    let refused = app
        .call_as(
            Some(&member.token),
            Method::DELETE,
            &format!("{base}/{id}"),
            None,
            &[],
        )
        .await;
    refused.problem(StatusCode::FORBIDDEN);
    app.secret("quality", "/", "GOES_WITH_IT", VALUE).await;
    let deleted = app
        .call(Method::DELETE, &format!("{base}/{id}"), None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let gone = app
        .call(Method::GET, &format!("{base}/{id}"), None, &[])
        .await;
    gone.problem(StatusCode::NOT_FOUND);
    let left: i64 = sqlx::query_scalar("select count(*) from secrets")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert_eq!(
        audit(&pool, "environment.delete").await[0]["secretsDeleted"],
        1
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn folders_nest_list_rename_and_delete_only_with_force(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let orders = app.folder("prod", "/", "orders").await;
    assert_eq!(orders["path"], "/orders");
    let api = app.folder("prod", "/orders", "api").await;
    assert_eq!(api["path"], "/orders/api");
    assert_eq!(api["parentId"], orders["id"]);
    let dup = app
        .call(
            Method::POST,
            "/api/v2/folders",
            Some(json!({ "projectId": app.project_id, "environment": "prod", "path": "/", "name": "orders" })),
            &[],
        )
        .await;
    dup.problem(StatusCode::CONFLICT);
    let missing_parent = app
        .call(
            Method::POST,
            "/api/v2/folders",
            Some(json!({ "projectId": app.project_id, "environment": "prod", "path": "/nope", "name": "x" })),
            &[],
        )
        .await;
    missing_parent.problem(StatusCode::NOT_FOUND);
    assert_eq!(missing_parent.fields(), ["path"]);

    let list = |q: &str| {
        format!(
            "/api/v2/folders?projectId={}&environment=prod&{q}",
            app.project_id
        )
    };
    let top = app.call(Method::GET, &list("path=%2F"), None, &[]).await;
    assert_eq!(top.json["folders"].as_array().map(Vec::len), Some(1));
    let all = app
        .call(Method::GET, &list("path=%2F&recursive=true"), None, &[])
        .await;
    assert_eq!(all.json["folders"].as_array().map(Vec::len), Some(2));

    let id = orders["id"].as_str().expect("id");
    let renamed = app
        .call(
            Method::PATCH,
            &format!("/api/v2/folders/{id}"),
            Some(json!({ "projectId": app.project_id, "environment": "prod", "name": "shop", "path": "/" })),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let child = app
        .call(
            Method::GET,
            &format!("/api/v2/folders/{}", api["id"].as_str().expect("id")),
            None,
            &[],
        )
        .await;
    assert_eq!(child.json["folder"]["path"], "/shop/api");

    app.secret("prod", "/shop/api", "INSIDE", VALUE).await;
    let refused = app
        .call(Method::DELETE, &format!("/api/v2/folders/{id}"), None, &[])
        .await;
    refused.problem(StatusCode::CONFLICT);
    assert_eq!(refused.fields(), ["forceDelete"]);
    let by_name = app
        .call(
            Method::DELETE,
            "/api/v2/folders/shop",
            Some(json!({ "projectId": app.project_id, "environment": "prod", "path": "/", "forceDelete": true })),
            &[],
        )
        .await;
    assert_eq!(by_name.status, StatusCode::OK, "{}", by_name.text);
    let after = app
        .call(Method::GET, &list("path=%2F&recursive=true"), None, &[])
        .await;
    assert_eq!(after.json["folders"], json!([]));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn secrets_are_created_read_listed_updated_renamed_and_deleted(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.folder("dev", "/", "orders").await;
    let created = app.secret("dev", "/orders", "DB_PASSWORD", VALUE).await;
    for field in [
        "id",
        "_id",
        "workspace",
        "environment",
        "version",
        "type",
        "secretKey",
        "secretValue",
        "secretComment",
        "createdAt",
        "updatedAt",
        "secretPath",
    ] {
        assert!(!created[field].is_null(), "{field} missing: {created}");
    }
    assert_eq!(created["version"], 1);
    assert_eq!(created["secretPath"], "/orders");
    assert_eq!(created["workspace"], app.project_id);

    let get = format!(
        "/api/v3/secrets/raw/DB_PASSWORD?{}",
        app.read_query("dev", "/orders")
    );
    let read = app.call(Method::GET, &get, None, &[]).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json["secret"]["secretValue"], VALUE);
    let hidden = app
        .call(
            Method::GET,
            &get.replace("viewSecretValue=true", "viewSecretValue=false"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        hidden.json["secret"]["secretValue"],
        "<hidden-by-infisical>"
    );
    assert_eq!(hidden.json["secret"]["secretValueHidden"], true);

    let duplicate = app
        .call(
            Method::POST,
            "/api/v3/secrets/raw/DB_PASSWORD",
            Some(app.secret_body("dev", "/orders", Some("x"))),
            &[],
        )
        .await;
    duplicate.problem(StatusCode::CONFLICT);
    assert_eq!(duplicate.fields(), ["secretName"]);
    assert!(
        !duplicate.text.contains("DB_PASSWORD"),
        "a problem never echoes the submitted name: {}",
        duplicate.text
    );

    let mut body = app.secret_body("dev", "/orders", None);
    body["secretComment"] = json!("the orders database");
    body["newSecretName"] = json!("ORDERS_DB_PASSWORD");
    let updated = app
        .call(
            Method::PATCH,
            "/api/v3/secrets/raw/DB_PASSWORD",
            Some(body),
            &[],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.json["secret"]["version"], 2);
    assert_eq!(updated.json["secret"]["secretKey"], "ORDERS_DB_PASSWORD");
    assert_eq!(updated.json["secret"]["secretValue"], VALUE);
    assert_eq!(
        updated.json["secret"]["secretComment"],
        "the orders database"
    );
    let old_name = app.call(Method::GET, &get, None, &[]).await;
    old_name.problem(StatusCode::NOT_FOUND);

    app.secret("dev", "/", "TOP", "top-value").await;
    let list = format!("/api/v3/secrets/raw?{}", app.read_query("dev", "/"));
    let top = app.call(Method::GET, &list, None, &[]).await;
    assert_eq!(top.status, StatusCode::OK, "{}", top.text);
    assert_eq!(keys(&top), ["TOP"]);
    assert_eq!(top.json["imports"], json!([]));
    let everything = app
        .call(Method::GET, &format!("{list}&recursive=true"), None, &[])
        .await;
    assert_eq!(keys(&everything), ["TOP", "ORDERS_DB_PASSWORD"]);

    let deleted = app
        .call(
            Method::DELETE,
            "/api/v3/secrets/raw/TOP",
            Some(json!({ "workspaceId": app.project_id, "environment": "dev", "secretPath": "/", "type": "shared" })),
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let after = app.call(Method::GET, &list, None, &[]).await;
    assert_eq!(keys(&after), Vec::<String>::new());

    // Writes and reads are audited; no row holds a value.
    let lists = audit(&pool, "secret.list").await;
    assert_eq!(lists.len(), 3);
    assert_eq!(
        lists[1]["secrets"],
        json!([
            { "id": top.json["secrets"][0]["id"].clone(), "key": "TOP", "secretPath": "/", "version": 1 },
            { "id": created["id"].clone(), "key": "ORDERS_DB_PASSWORD", "secretPath": "/orders", "version": 2 },
        ])
    );
    assert_eq!(audit(&pool, "secret.read").await.len(), 2);
    assert_eq!(audit(&pool, "secret.create").await.len(), 2);
    assert_eq!(audit(&pool, "secret.update").await.len(), 1);
    assert_eq!(audit(&pool, "secret.delete").await.len(), 1);
    let dump = app.dump().await;
    assert!(!dump.contains(VALUE) && !dump.contains("top-value"));
}

/// A read by name writes its audit row in the statement that reads (one round trip); a read that
/// expands references writes it after expanding. Both rows say the same things, and a read that
/// finds nothing records nothing.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_read_by_name_records_the_same_audit_row_either_way(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let made = app.secret("prod", "/", "API_KEY", VALUE).await;
    let read = |expand: bool, version: &str| {
        format!(
            "/api/v3/secrets/raw/API_KEY?workspaceId={}&environment=prod&secretPath=%2F&expandSecretReferences={expand}&version={version}",
            app.project_id
        )
    };
    for (expand, version) in [(false, ""), (true, ""), (false, "1")] {
        let reply = app
            .call(Method::GET, &read(expand, version), None, &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json["secret"]["secretValue"], VALUE);
    }
    for missing in [
        "/api/v3/secrets/raw/NOPE?environment=prod",
        "/api/v3/secrets/raw/API_KEY?environment=staging",
    ] {
        let path = format!("{missing}&workspaceId={}&secretPath=%2F", app.project_id);
        app.call(Method::GET, &path, None, &[])
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let rows: Vec<(Option<String>, String, Value)> = sqlx::query_as(
        "select resource_id, outcome, metadata from audit_events where action = 'secret.read' order by id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (n, (resource, outcome, metadata)) in rows.iter().enumerate() {
        assert_eq!(resource.as_deref(), made["id"].as_str(), "row {n}");
        assert_eq!(outcome, "success");
        assert_eq!(
            *metadata,
            json!({
                "environment": "prod",
                "secretPath": "/",
                "valuesShown": true,
                "referencesExpanded": n == 1,
                "secrets": [{ "id": made["id"].clone(), "key": "API_KEY", "version": 1 }],
                "referenced": [],
            }),
            "row {n}"
        );
    }
    assert!(!app.dump().await.contains(VALUE));
}

/// Reads by name that arrive together go to the database in one statement: each request still
/// gets its own secret (or its own 404) and its own audit row, naming what it read.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn reads_answered_together_each_get_their_own_secret_and_audit_row(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let mut ids = std::collections::HashMap::new();
    for n in 0..8 {
        let made = app
            .secret("prod", "/", &format!("KEY_{n}"), &format!("value-{n}"))
            .await;
        ids.insert(format!("KEY_{n}"), made["id"].clone());
    }
    // Every fourth read names a secret that is not there; every fifth asks for version 2, which
    // no secret has.
    let asked: Vec<(String, &str)> = (0..40)
        .map(|i| {
            let key = if i % 4 == 3 {
                format!("MISSING_{i}")
            } else {
                format!("KEY_{}", i % 8)
            };
            (key, if i % 5 == 4 { "2" } else { "" })
        })
        .collect();
    let paths: Vec<String> = asked
        .iter()
        .map(|(key, version)| {
            format!(
                "/api/v3/secrets/raw/{key}?workspaceId={}&environment=prod&secretPath=%2F&version={version}",
                app.project_id
            )
        })
        .collect();
    let replies =
        futures_util::future::join_all(paths.iter().map(|p| app.call(Method::GET, p, None, &[])))
            .await;
    let mut found = 0;
    for ((key, version), reply) in asked.iter().zip(&replies) {
        if key.starts_with("MISSING") || !version.is_empty() {
            reply.problem(StatusCode::NOT_FOUND);
            let field = if key.starts_with("MISSING") {
                "secretName"
            } else {
                "version"
            };
            assert_eq!(reply.fields(), [field], "{key} v{version}");
        } else {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            assert_eq!(reply.json["secret"]["secretKey"], key.as_str());
            let n = key.trim_start_matches("KEY_");
            assert_eq!(reply.json["secret"]["secretValue"], format!("value-{n}"));
            found += 1;
        }
    }
    let rows: Vec<(Option<String>, Value, i64)> = sqlx::query_as(
        "select resource_id, metadata, count(*) over (partition by xact) from audit_events \
         where action = 'secret.read'",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(rows.len(), found, "one row per read that found its secret");
    for (resource, metadata, _) in &rows {
        let key = metadata["secrets"][0]["key"].as_str().expect("key");
        assert_eq!(resource.as_deref(), ids[key].as_str(), "{metadata}");
        assert_eq!(metadata["secrets"][0]["id"], ids[key]);
    }
    assert!(
        rows.iter().any(|(_, _, together)| *together > 1),
        "reads arriving together share a statement"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn past_versions_are_readable_and_the_last_ten_are_kept(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.secret("prod", "/", "API_KEY", "value-1").await;
    for n in 2..=12 {
        let reply = app
            .call(
                Method::PATCH,
                "/api/v3/secrets/raw/API_KEY",
                Some(app.secret_body("prod", "/", Some(&format!("value-{n}")))),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json["secret"]["version"], n);
    }
    let get = |version: &str| {
        format!(
            "/api/v3/secrets/raw/API_KEY?{}&version={version}",
            app.read_query("prod", "/")
        )
    };
    let current = app.call(Method::GET, &get(""), None, &[]).await;
    assert_eq!(current.json["secret"]["secretValue"], "value-12");
    let past = app.call(Method::GET, &get("5"), None, &[]).await;
    assert_eq!(past.status, StatusCode::OK, "{}", past.text);
    assert_eq!(past.json["secret"]["version"], 5);
    assert_eq!(past.json["secret"]["secretValue"], "value-5");
    for gone in ["1", "2", "13"] {
        let reply = app.call(Method::GET, &get(gone), None, &[]).await;
        reply.problem(StatusCode::NOT_FOUND);
        assert_eq!(reply.fields(), ["version"], "{gone}");
    }
    let kept: i64 = sqlx::query_scalar("select count(*) from secret_versions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(kept, 10);
    let read = audit(&pool, "secret.read").await;
    assert_eq!(read[1]["secrets"][0]["version"], 5);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn values_are_sealed_to_their_row_secret_and_version(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.secret("dev", "/", "ONE", VALUE).await;
    app.secret("dev", "/", "TWO", "another-value").await;
    // Every sealed column is one `keyhold keys` walks, with its key id column filled.
    assert!(
        store::keyring::SEALED_COLUMNS
            .iter()
            .any(|c| c.table == "secret_versions" && c.aad_field == "value")
    );
    let key_ids: Vec<Option<String>> =
        sqlx::query_scalar("select value_key_id from secret_versions")
            .fetch_all(&pool)
            .await
            .expect("key ids");
    assert_eq!(key_ids, [Some("test".to_owned()), Some("test".to_owned())]);
    // Swapping sealed values between rows makes both unreadable rather than crossed.
    sqlx::query(
        "update secret_versions v set value_sealed = o.value_sealed from secret_versions o \
         where o.id <> v.id",
    )
    .execute(&pool)
    .await
    .expect("swap");
    let reply = app
        .call(
            Method::GET,
            &format!("/api/v3/secrets/raw/ONE?{}", app.read_query("dev", "/")),
            None,
            &[],
        )
        .await;
    reply.problem(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!reply.text.contains("another-value"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn roles_decide_who_reads_and_writes_and_outsiders_see_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.secret("prod", "/", "SHARED", VALUE).await;
    let viewer = app
        .identity("viewer", Some((&app.project_id, "viewer")))
        .await;
    let member = app
        .identity("member", Some((&app.project_id, "member")))
        .await;
    let outsider = app.identity("outsider", None).await;
    let get = format!("/api/v3/secrets/raw/SHARED?{}", app.read_query("prod", "/"));
    let read = app
        .call_as(Some(&viewer.token), Method::GET, &get, None, &[])
        .await;
    assert_eq!(read.json["secret"]["secretValue"], VALUE);
    let write = app.secret_body("prod", "/", Some("new"));
    let refused = app
        .call_as(
            Some(&viewer.token),
            Method::PATCH,
            "/api/v3/secrets/raw/SHARED",
            Some(write.clone()),
            &[],
        )
        .await;
    refused.problem(StatusCode::FORBIDDEN);
    let written = app
        .call_as(
            Some(&member.token),
            Method::PATCH,
            "/api/v3/secrets/raw/SHARED",
            Some(write.clone()),
            &[],
        )
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    let env_create = app
        .call_as(
            Some(&member.token),
            Method::POST,
            &format!("/api/v1/workspace/{}/environments", app.project_id),
            Some(json!({ "name": "x", "slug": "x" })),
            &[],
        )
        .await;
    env_create.problem(StatusCode::FORBIDDEN);
    for (method, path, body) in [
        (Method::GET, get.clone(), None),
        (
            Method::PATCH,
            "/api/v3/secrets/raw/SHARED".to_owned(),
            Some(write),
        ),
        (
            Method::GET,
            format!("/api/v3/secrets/raw?{}", app.read_query("prod", "/")),
            None,
        ),
    ] {
        let reply = app
            .call_as(Some(&outsider.token), method, &path, body, &[])
            .await;
        reply.problem(StatusCode::NOT_FOUND);
        assert!(!reply.text.contains("SHARED"));
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bad_input_is_refused_naming_the_field_never_the_value(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.secret("dev", "/", "EXISTING", "${OTHER}").await;
    let before = app.dump().await;
    let create = |name: &str| format!("/api/v3/secrets/raw/{name}");
    let with = |field: &str, value: Value| {
        let mut body = app.secret_body("dev", "/", Some("v"));
        body[field] = value;
        body
    };
    let big = "x".repeat(64 * 1024 + 1);
    let cases: Vec<(&str, String, Value, StatusCode, &str)> = vec![
        (
            "space in name",
            create("A%20B"),
            with("secretValue", json!("v")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretName",
        ),
        (
            "= in name",
            create("A=B"),
            with("secretValue", json!("v")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretName",
        ),
        (
            "unicode name",
            create("%C3%A9T%C3%A9"),
            with("secretValue", json!("v")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretName",
        ),
        (
            "300 characters",
            create(&"N".repeat(300)),
            with("secretValue", json!("v")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretName",
        ),
        (
            "value over 64 KiB",
            create("BIG"),
            with("secretValue", json!(big)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretValue",
        ),
        (
            "traversal",
            create("OK"),
            with("secretPath", json!("/../etc")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "double slash",
            create("OK"),
            with("secretPath", json!("//etc")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "encoded dots",
            create("OK"),
            with("secretPath", json!("/%2e%2e")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "backslash",
            create("OK"),
            with("secretPath", json!("/a\\b")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "NUL",
            create("OK"),
            with("secretPath", json!("/a\u{0}b")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "4 KB path",
            create("OK"),
            with("secretPath", json!(format!("/{}", "a/".repeat(2048)))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "17 levels",
            create("OK"),
            with("secretPath", json!("/a".repeat(17))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretPath",
        ),
        (
            "unknown environment",
            create("OK"),
            with("environment", json!("nope")),
            StatusCode::NOT_FOUND,
            "environment",
        ),
        (
            "unknown folder",
            create("OK"),
            with("secretPath", json!("/nope")),
            StatusCode::NOT_FOUND,
            "secretPath",
        ),
        (
            "project slug",
            create("OK"),
            with("projectSlug", json!("team-a")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "projectSlug",
        ),
        (
            "personal",
            create("OK"),
            with("type", json!("personal")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            "tags",
            create("OK"),
            with("tagIds", json!(["t1"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tagIds",
        ),
        (
            "metadata",
            create("OK"),
            with("secretMetadata", json!([{ "key": "a", "value": "b" }])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretMetadata",
        ),
        (
            "reminder",
            create("OK"),
            with("secretReminderRepeatDays", json!(7)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretReminderRepeatDays",
        ),
        (
            "multiline",
            create("OK"),
            with("skipMultilineEncoding", json!(true)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "skipMultilineEncoding",
        ),
        (
            "no value",
            create("OK"),
            with("secretValue", Value::Null),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secretValue",
        ),
    ];
    for (case, path, body, status, field) in cases {
        let reply = app.call(Method::POST, &path, Some(body), &[]).await;
        reply.problem(status);
        assert!(
            reply.fields().contains(&field.to_owned()),
            "{case}: {}",
            reply.text
        );
        for echoed in ["etc", "nope", "t1", "xxxxxxxx", "team-a"] {
            assert!(
                !reply.text.contains(echoed),
                "{case} echoed: {}",
                reply.text
            );
        }
    }
    let query = |q: &str| format!("/api/v3/secrets/raw?environment=dev&{q}");
    for (case, path, field) in [
        ("slug only", query("workspaceSlug=team-a"), "workspaceSlug"),
        ("no project", query("secretPath=%2F"), "workspaceId"),
        (
            "traversal",
            query(&format!(
                "workspaceId={}&secretPath=%2F..%2F..",
                app.project_id
            )),
            "secretPath",
        ),
        (
            "flag",
            query(&format!("workspaceId={}&recursive=yes", app.project_id)),
            "recursive",
        ),
        (
            "tags",
            query(&format!("workspaceId={}&tagSlugs=a", app.project_id)),
            "tagSlugs",
        ),
        (
            "references",
            query(&format!(
                "workspaceId={}&expandSecretReferences=true",
                app.project_id
            )),
            "expandSecretReferences",
        ),
    ] {
        let reply = app.call(Method::GET, &path, None, &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), [field], "{case}");
        assert!(!reply.text.contains("${OTHER}"), "{case}");
    }
    let bad_version = app
        .call(
            Method::GET,
            &format!(
                "/api/v3/secrets/raw/EXISTING?{}&version=0",
                app.read_query("dev", "/")
            ),
            None,
            &[],
        )
        .await;
    bad_version.problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Reads are audited as they happen; writes and the data are unchanged.
    let after = app.dump().await;
    let strip = |dump: &str| {
        dump.lines()
            .filter(|l| !l.contains("secret.list") && !l.contains("secret.read"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&before), strip(&after));
}

/// An environment named by something that is no slug (a NUL, spaces, upper case) is simply not
/// found, by every route that takes one in a body: PostgreSQL is not asked (it errors on NUL).
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn environments_that_are_no_slug_are_not_found(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let before = app.dump().await;
    for env in ["n\u{0}v", "Dev", "d e v", ""] {
        let writes = [
            (
                "/api/v3/secrets/raw/CANARY_NAME",
                app.secret_body(env, "/", Some("value")),
            ),
            (
                "/api/v2/folders",
                json!({ "projectId": app.project_id, "environment": env, "name": "f" }),
            ),
        ];
        for (path, body) in writes {
            let reply = app.call(Method::POST, path, Some(body), &[]).await;
            assert!(
                matches!(
                    reply.status,
                    StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY
                ),
                "{path} {env:?}: {}",
                reply.text
            );
        }
    }
    assert_eq!(app.dump().await, before);
}

//! Narrowed memberships: a member or viewer narrowed to `environments` and a `secretPath` folder
//! reaches only the secrets and folders there — 403 elsewhere (before anything is looked up, so
//! nothing leaks), lists show only what it reaches, references out of the scope are refused, and
//! nothing else of the project (connections, rotations, environments' management) is reachable.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Identity, Reply, TestApp};

const CANARY: &str = "CANARY-narrowed-value-0c7e";

impl TestApp {
    /// A machine identity with `role`, narrowed to `environments` at `secret_path`.
    pub async fn narrowed(
        &self,
        name: &str,
        role: &str,
        environments: Value,
        secret_path: Value,
    ) -> Identity {
        let identity = self.identity(name, None).await;
        let added = self
            .call(
                Method::POST,
                &format!("/api/v1/projects/{}/memberships", self.project_id),
                Some(json!({
                    "identityId": identity.id,
                    "role": role,
                    "environments": environments,
                    "secretPath": secret_path,
                })),
                &[],
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
        identity
    }

    async fn as_identity(
        &self,
        who: &Identity,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.call_as(Some(&who.token), method, path, body, &[])
            .await
    }

    fn list_path(&self, env: &str, path: &str, recursive: bool) -> String {
        format!(
            "/api/v3/secrets/raw?workspaceId={}&environment={env}&secretPath={}&recursive={recursive}",
            self.project_id,
            path.replace('/', "%2F")
        )
    }
}

fn keys(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s["secretKey"].as_str().expect("key").to_owned())
        .collect()
}

fn paths(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .map(|s| s["path"].as_str().expect("path").to_owned())
        .collect()
}

fn forbidden(reply: &Reply, what: &str) {
    reply.problem(StatusCode::FORBIDDEN);
    assert!(
        reply.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("narrowed")),
        "{what}: {}",
        reply.text
    );
    assert!(!reply.text.contains(CANARY), "{what}");
}

async fn layout(app: &TestApp) -> (Value, Value) {
    let orders = app.folder("prod", "/", "orders").await;
    app.folder("prod", "/orders", "api").await;
    let billing = app.folder("prod", "/", "billing").await;
    app.folder("dev", "/", "orders").await;
    app.secret("prod", "/orders", "ORDERS_KEY", "orders-value")
        .await;
    app.secret("prod", "/orders/api", "API_KEY", "api-value")
        .await;
    app.secret("prod", "/billing", "BILLING_KEY", CANARY).await;
    app.secret("prod", "/", "ROOT_KEY", CANARY).await;
    app.secret("dev", "/orders", "DEV_KEY", CANARY).await;
    (orders, billing)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_narrowed_member_reaches_only_its_environment_and_folder(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (orders, billing) = layout(&app).await;
    let app_id = app
        .narrowed("orders-app", "member", json!(["prod"]), json!("/orders/"))
        .await;

    // The membership says what it is narrowed to (the path normalised).
    let listed = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{}/memberships", app.project_id),
            None,
            &[],
        )
        .await;
    let mine = listed.json["memberships"]
        .as_array()
        .expect("memberships")
        .iter()
        .find(|m| m["identityId"] == app_id.id.as_str())
        .expect("the narrowed membership")
        .clone();
    assert_eq!(mine["environments"], json!(["prod"]));
    assert_eq!(mine["secretPath"], "/orders");

    let read = |env: &str, path: &str, name: &str| {
        format!(
            "/api/v3/secrets/raw/{name}?workspaceId={}&environment={env}&secretPath={}",
            app.project_id,
            path.replace('/', "%2F")
        )
    };
    for (env, path, name) in [
        ("prod", "/orders", "ORDERS_KEY"),
        ("prod", "/orders/api", "API_KEY"),
    ] {
        let got = app
            .as_identity(&app_id, Method::GET, &read(env, path, name), None)
            .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    }
    for (env, path, name) in [
        ("prod", "/billing", "BILLING_KEY"),
        ("prod", "/", "ROOT_KEY"),
        ("dev", "/orders", "DEV_KEY"),
        // Places that do not exist answer the same: a narrowed caller learns nothing outside.
        ("prod", "/nowhere", "NOTHING"),
        ("qa", "/orders", "NOTHING"),
        ("prod", "/ordersx", "NOTHING"),
    ] {
        let got = app
            .as_identity(&app_id, Method::GET, &read(env, path, name), None)
            .await;
        forbidden(&got, &format!("read {env} {path} {name}"));
    }

    // Lists show only what the membership reaches.
    let list = |env: &str, path: &str, recursive: bool| app.list_path(env, path, recursive);
    let everything = app
        .as_identity(&app_id, Method::GET, &list("prod", "/", true), None)
        .await;
    assert_eq!(keys(&everything), ["ORDERS_KEY", "API_KEY"]);
    assert!(!everything.text.contains(CANARY));
    let root = app
        .as_identity(&app_id, Method::GET, &list("prod", "/", false), None)
        .await;
    assert_eq!(keys(&root), Vec::<String>::new());
    for (env, path) in [("prod", "/billing"), ("dev", "/")] {
        let got = app
            .as_identity(&app_id, Method::GET, &list(env, path, true), None)
            .await;
        forbidden(&got, &format!("list {env} {path}"));
    }

    // Folders: those inside the scope and those leading to it.
    let folders = |env: &str, path: &str, recursive: bool| {
        format!(
            "/api/v2/folders?projectId={}&environment={env}&path={}&recursive={recursive}",
            app.project_id,
            path.replace('/', "%2F")
        )
    };
    let top = app
        .as_identity(&app_id, Method::GET, &folders("prod", "/", false), None)
        .await;
    assert_eq!(paths(&top), ["/orders"]);
    let all = app
        .as_identity(&app_id, Method::GET, &folders("prod", "/", true), None)
        .await;
    assert_eq!(paths(&all), ["/orders", "/orders/api"]);
    forbidden(
        &app.as_identity(&app_id, Method::GET, &folders("dev", "/", true), None)
            .await,
        "folders of dev",
    );
    forbidden(
        &app.as_identity(
            &app_id,
            Method::GET,
            &folders("prod", "/billing", false),
            None,
        )
        .await,
        "folders of /billing",
    );
    let by_id = |f: &Value| format!("/api/v2/folders/{}", f["id"].as_str().expect("id"));
    let seen = app
        .as_identity(&app_id, Method::GET, &by_id(&orders), None)
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    // A folder outside the scope is as unknown as one that does not exist.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({ "name": "taken" }));
        let reply = app
            .as_identity(&app_id, method.clone(), &by_id(&billing), body)
            .await;
        reply.problem(StatusCode::NOT_FOUND);
    }

    // Writes inside the scope work; anywhere else they are refused and change nothing.
    let body = |env: &str, path: &str| {
        let mut b = app.secret_body(env, path, Some("new-value"));
        b["secretComment"] = json!("made by the app");
        b
    };
    let made = app
        .as_identity(
            &app_id,
            Method::POST,
            "/api/v3/secrets/raw/NEW_KEY",
            Some(body("prod", "/orders/api")),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    for (method, name, env, path) in [
        (Method::POST, "NEW_KEY", "prod", "/"),
        (Method::POST, "NEW_KEY", "dev", "/orders"),
        (Method::PATCH, "BILLING_KEY", "prod", "/billing"),
        (Method::DELETE, "BILLING_KEY", "prod", "/billing"),
    ] {
        let mut b = body(env, path);
        if method == Method::DELETE {
            b = json!({ "workspaceId": app.project_id, "environment": env, "secretPath": path });
        }
        let reply = app
            .as_identity(
                &app_id,
                method.clone(),
                &format!("/api/v3/secrets/raw/{name}"),
                Some(b),
            )
            .await;
        forbidden(&reply, &format!("{method} {env} {path} {name}"));
    }
    let folder_in = |path: &str, name: &str| json!({ "projectId": app.project_id, "environment": "prod", "path": path, "name": name });
    let inside = app
        .as_identity(
            &app_id,
            Method::POST,
            "/api/v2/folders",
            Some(folder_in("/orders", "jobs")),
        )
        .await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.text);
    for (path, name) in [("/", "elsewhere"), ("/billing", "sub")] {
        let reply = app
            .as_identity(
                &app_id,
                Method::POST,
                "/api/v2/folders",
                Some(folder_in(path, name)),
            )
            .await;
        forbidden(&reply, &format!("folder {path}/{name}"));
    }
    // Renaming its own folder would take it out of the scope.
    let rename = app
        .as_identity(
            &app_id,
            Method::PATCH,
            &by_id(&orders),
            Some(json!({ "name": "shipping" })),
        )
        .await;
    forbidden(&rename, "rename the scope's folder");
    let by_name = app
        .as_identity(
            &app_id,
            Method::DELETE,
            "/api/v2/folders/billing",
            Some(json!({ "projectId": app.project_id, "environment": "prod", "path": "/" })),
        )
        .await;
    forbidden(&by_name, "delete /billing by name");

    // Environments: it sees its own, manages none.
    let envs = app
        .as_identity(
            &app_id,
            Method::GET,
            &format!("/api/v1/workspace/{}/environments", app.project_id),
            None,
        )
        .await;
    assert_eq!(envs.status, StatusCode::OK, "{}", envs.text);
    let slugs: Vec<&str> = envs.json["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| e["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["prod"]);
    let made_env = app
        .as_identity(
            &app_id,
            Method::POST,
            &format!("/api/v1/workspace/{}/environments", app.project_id),
            Some(json!({ "name": "qa", "slug": "qa" })),
        )
        .await;
    made_env.problem(StatusCode::FORBIDDEN);

    // Nothing else of the project: connections, rotations, memberships.
    for path in [
        format!("/api/v1/app-connections/auth0?projectId={}", app.project_id),
        format!("/api/v2/secret-rotations?projectId={}", app.project_id),
        format!("/api/v1/projects/{}/memberships", app.project_id),
        format!("/api/v1/projects/{}", app.project_id),
    ] {
        let reply = app.as_identity(&app_id, Method::GET, &path, None).await;
        forbidden(&reply, &path);
    }
    let projects = app
        .as_identity(&app_id, Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(projects.status, StatusCode::OK, "{}", projects.text);
    assert!(
        !projects.text.contains(&app.project_id),
        "{}",
        projects.text
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn references_stop_at_the_scope_and_widening_takes_effect_at_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    layout(&app).await;
    app.secret(
        "prod",
        "/orders",
        "USES_BILLING",
        "x=${prod.billing.BILLING_KEY}",
    )
    .await;
    app.secret(
        "prod",
        "/orders",
        "USES_LOCAL",
        "${ORDERS_KEY}/${prod.orders.api.API_KEY}",
    )
    .await;
    let viewer = app
        .narrowed("orders-viewer", "viewer", json!(["prod"]), json!("/orders"))
        .await;
    let read = |name: &str, expand: bool| {
        format!(
            "/api/v3/secrets/raw/{name}?workspaceId={}&environment=prod&secretPath=%2Forders&expandSecretReferences={expand}",
            app.project_id
        )
    };
    let local = app
        .as_identity(&viewer, Method::GET, &read("USES_LOCAL", true), None)
        .await;
    assert_eq!(local.status, StatusCode::OK, "{}", local.text);
    assert_eq!(
        local.json["secret"]["secretValue"],
        "orders-value/api-value"
    );
    let out = app
        .as_identity(&viewer, Method::GET, &read("USES_BILLING", true), None)
        .await;
    out.problem(StatusCode::FORBIDDEN);
    let detail = out.json["detail"].as_str().expect("detail");
    assert!(
        detail.contains("BILLING_KEY") && detail.contains("outside what you may read"),
        "{detail}"
    );
    assert!(!out.text.contains(CANARY));
    // Unexpanded, the stored text is the value.
    let raw = app
        .as_identity(&viewer, Method::GET, &read("USES_BILLING", false), None)
        .await;
    assert_eq!(
        raw.json["secret"]["secretValue"],
        "x=${prod.billing.BILLING_KEY}"
    );
    // A viewer writes nothing, even inside its scope.
    let write = app
        .as_identity(
            &viewer,
            Method::PATCH,
            "/api/v3/secrets/raw/ORDERS_KEY",
            Some(app.secret_body("prod", "/orders", Some("changed"))),
        )
        .await;
    write.problem(StatusCode::FORBIDDEN);

    // Widened, the same token reads it at once.
    let membership = format!(
        "/api/v1/projects/{}/memberships/{}",
        app.project_id, viewer.id
    );
    let widened = app
        .call(
            Method::PATCH,
            &membership,
            Some(json!({ "environments": null, "secretPath": null })),
            &[],
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK, "{}", widened.text);
    assert_eq!(widened.json["membership"]["environments"], Value::Null);
    assert_eq!(widened.json["membership"]["role"], "viewer");
    let now = app
        .as_identity(&viewer, Method::GET, &read("USES_BILLING", true), None)
        .await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.text);
    assert_eq!(now.json["secret"]["secretValue"], format!("x={CANARY}"));
    // And narrowed again, refused again.
    let narrowed = app
        .call(
            Method::PATCH,
            &membership,
            Some(json!({ "environments": ["dev"], "secretPath": "/orders" })),
            &[],
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.text);
    let again = app
        .as_identity(&viewer, Method::GET, &read("USES_LOCAL", false), None)
        .await;
    again.problem(StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn narrowing_is_validated_and_never_given_to_an_admin(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let target = app.identity("target", None).await;
    let add = format!("/api/v1/projects/{}/memberships", app.project_id);
    for (case, body, field) in [
        ("empty list", json!({ "environments": [] }), "environments"),
        (
            "unknown",
            json!({ "environments": ["prod", "qa-nowhere"] }),
            "environments[1]",
        ),
        (
            "bad slug",
            json!({ "environments": ["Prod Env"] }),
            "environments[0]",
        ),
        (
            "twice",
            json!({ "environments": ["prod", "prod"] }),
            "environments[1]",
        ),
        (
            "traversal",
            json!({ "secretPath": "/orders/../billing" }),
            "secretPath",
        ),
        ("relative", json!({ "secretPath": "orders" }), "secretPath"),
        (
            "admin",
            json!({ "role": "admin", "secretPath": "/orders" }),
            "role",
        ),
    ] {
        let mut b = json!({ "identityId": target.id, "role": "member" });
        for (k, v) in body.as_object().expect("object") {
            b[k] = v.clone();
        }
        let reply = app.call(Method::POST, &add, Some(b), &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), [field], "{case}: {}", reply.text);
        assert!(
            !reply.text.contains("qa-nowhere") && !reply.text.contains("Prod Env"),
            "{case}"
        );
    }
    // `/` is the whole environment, stored as null.
    let whole = app
        .call(
            Method::POST,
            &add,
            Some(json!({ "identityId": target.id, "role": "member", "environments": ["dev"], "secretPath": "/" })),
            &[],
        )
        .await;
    assert_eq!(whole.status, StatusCode::CREATED, "{}", whole.text);
    assert_eq!(whole.json["membership"]["secretPath"], Value::Null);
    assert_eq!(whole.json["membership"]["environments"], json!(["dev"]));
    // Promoting a narrowed member to admin needs the narrowing gone: a well-formed request that
    // conflicts with what the membership is.
    let member = format!("{add}/{}", target.id);
    let promote = app
        .call(
            Method::PATCH,
            &member,
            Some(json!({ "role": "admin" })),
            &[],
        )
        .await;
    promote.problem(StatusCode::CONFLICT);
    assert_eq!(promote.fields(), ["role"]);
    let promote = app
        .call(
            Method::PATCH,
            &member,
            Some(json!({ "role": "admin", "environments": null })),
            &[],
        )
        .await;
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.text);
    assert_eq!(promote.json["membership"]["role"], "admin");
}

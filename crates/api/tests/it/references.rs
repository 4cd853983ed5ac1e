//! Secret references (`${KEY}`, `${env.folder.KEY}`) expanded on get and list with
//! `expandSecretReferences=true`: recursively, each level fetched in one query, audited; cycles,
//! depth past 5, missing and malformed references refused naming the secrets, never a value.

use axum::http::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

use crate::support::{Reply, TestApp};

const CANARY: &str = "CANARY-reference-value-51d0";

impl TestApp {
    fn expand_query(&self, env: &str, path: &str, expand: bool) -> String {
        format!(
            "workspaceId={}&environment={env}&secretPath={}&viewSecretValue=true&expandSecretReferences={expand}",
            self.project_id,
            path.replace('/', "%2F")
        )
    }

    pub async fn read_secret(
        &self,
        token: Option<&str>,
        env: &str,
        path: &str,
        name: &str,
        expand: bool,
    ) -> Reply {
        let path = format!(
            "/api/v3/secrets/raw/{name}?{}",
            self.expand_query(env, path, expand)
        );
        match token {
            Some(token) => {
                self.call_as(Some(token), Method::GET, &path, None, &[])
                    .await
            }
            None => self.call(Method::GET, &path, None, &[]).await,
        }
    }

    async fn list_expanded(&self, env: &str, path: &str, extra: &str) -> Reply {
        self.call(
            Method::GET,
            &format!(
                "/api/v3/secrets/raw?{}{extra}",
                self.expand_query(env, path, true)
            ),
            None,
            &[],
        )
        .await
    }
}

fn value(reply: &Reply) -> &str {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["secret"]["secretValue"].as_str().expect("value")
}

fn values(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| {
            (
                s["secretKey"].as_str().expect("key").to_owned(),
                s["secretValue"].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

async fn last_audit(pool: &PgPool, action: &str) -> Value {
    sqlx::query_scalar(
        "select metadata from audit_events where action = $1 order by id desc limit 1",
    )
    .bind(action)
    .fetch_one(pool)
    .await
    .expect("audit row")
}

fn referenced_keys(metadata: &Value) -> Vec<String> {
    metadata["referenced"]
        .as_array()
        .expect("referenced")
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}",
                r["environment"].as_str().expect("environment"),
                r["secretPath"].as_str().expect("path"),
                r["key"].as_str().expect("key")
            )
        })
        .collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn references_expand_across_environments_and_folders(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    app.folder("prod", "/", "orders").await;
    app.folder("prod", "/orders", "api").await;
    app.secret("prod", "/orders/api", "DB_USER", "orders").await;
    app.secret("prod", "/orders/api", "DB_PASS", CANARY).await;
    // A local reference in another folder resolves where that secret lives.
    app.secret(
        "prod",
        "/orders/api",
        "DB_URL",
        "postgres://${DB_USER}:${DB_PASS}@${prod.HOST}/orders",
    )
    .await;
    app.secret("prod", "/", "HOST", "db.internal").await;
    app.secret("dev", "/", "PORT", "5432").await;
    app.secret(
        "dev",
        "/",
        "ORDERS_DB",
        "${prod.orders.api.DB_URL}?port=${PORT}",
    )
    .await;
    app.secret("dev", "/", "LITERAL", "${ not a reference } and $PORT")
        .await;

    let expected = format!("postgres://orders:{CANARY}@db.internal/orders?port=5432");
    let got = app.read_secret(None, "dev", "/", "ORDERS_DB", true).await;
    assert_eq!(value(&got), expected);
    let audit = last_audit(&pool, "secret.read").await;
    assert_eq!(audit["referencesExpanded"], true);
    assert_eq!(
        referenced_keys(&audit),
        [
            "dev:/:PORT",
            "prod:/:HOST",
            "prod:/orders/api:DB_PASS",
            "prod:/orders/api:DB_URL",
            "prod:/orders/api:DB_USER",
        ]
    );
    assert!(!audit.to_string().contains(CANARY));

    // Without expansion the value is read as stored, and nothing else is read.
    let raw = app.read_secret(None, "dev", "/", "ORDERS_DB", false).await;
    assert_eq!(value(&raw), "${prod.orders.api.DB_URL}?port=${PORT}");
    assert_eq!(
        referenced_keys(&last_audit(&pool, "secret.read").await),
        Vec::<String>::new()
    );
    let literal = app.read_secret(None, "dev", "/", "LITERAL", true).await;
    assert_eq!(value(&literal), "${ not a reference } and $PORT");

    // A list expands every secret, with one audit row naming what references read.
    let listed = app.list_expanded("dev", "/", "").await;
    assert_eq!(
        values(&listed),
        [
            (
                "LITERAL".to_owned(),
                "${ not a reference } and $PORT".to_owned()
            ),
            ("ORDERS_DB".to_owned(), expected.clone()),
            ("PORT".to_owned(), "5432".to_owned()),
        ]
    );
    let audit = last_audit(&pool, "secret.list").await;
    assert_eq!(audit["secrets"].as_array().map(Vec::len), Some(3));
    // PORT was listed, so it is not counted again as referenced.
    assert_eq!(
        referenced_keys(&audit),
        [
            "prod:/:HOST",
            "prod:/orders/api:DB_PASS",
            "prod:/orders/api:DB_URL",
            "prod:/orders/api:DB_USER",
        ]
    );
    let recursive = app.list_expanded("prod", "/", "&recursive=true").await;
    assert!(
        values(&recursive).contains(&(
            "DB_URL".to_owned(),
            format!("postgres://orders:{CANARY}@db.internal/orders")
        )),
        "{}",
        recursive.text
    );

    // With values hidden there is nothing to expand.
    let hidden = app
        .call(
            Method::GET,
            &format!(
                "/api/v3/secrets/raw/ORDERS_DB?workspaceId={}&environment=dev&viewSecretValue=false&expandSecretReferences=true",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(value(&hidden), "<hidden-by-infisical>");

    // A past version expands against the current values it references.
    let update = app
        .call(
            Method::PATCH,
            "/api/v3/secrets/raw/PORT",
            Some(app.secret_body("dev", "/", Some("6543"))),
            &[],
        )
        .await;
    assert_eq!(update.status, StatusCode::OK, "{}", update.text);
    let now = app.read_secret(None, "dev", "/", "ORDERS_DB", true).await;
    assert!(value(&now).ends_with("?port=6543"), "{}", now.text);
}

/// Refused with 422 on `expandSecretReferences`, naming `needles`, never the canary.
fn refused(reply: &Reply, needles: &[&str]) {
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.fields(), ["expandSecretReferences"], "{}", reply.text);
    let detail = reply.json["detail"].as_str().expect("detail");
    for needle in needles {
        assert!(detail.contains(needle), "{needle:?} not in {detail}");
    }
    assert!(!reply.text.contains(CANARY), "{}", reply.text);
    assert_eq!(reply.json["message"], reply.json["detail"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn cycles_depth_and_missing_references_are_refused_by_name(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;

    app.secret("dev", "/", "SELF", &format!("{CANARY}${{SELF}}"))
        .await;
    let reply = app.read_secret(None, "dev", "/", "SELF", true).await;
    refused(&reply, &["SELF", "cycle"]);

    app.folder("staging", "/", "loop").await;
    app.secret("dev", "/", "A", &format!("{CANARY}${{staging.loop.B}}"))
        .await;
    app.secret("staging", "/loop", "B", "${C}").await;
    app.secret("staging", "/loop", "C", "${dev.A}").await;
    let reply = app.read_secret(None, "dev", "/", "A", true).await;
    refused(&reply, &["A → B → C → A", "cycle"]);
    // A list holding a secret in a cycle is refused the same way.
    let reply = app.list_expanded("staging", "/loop", "").await;
    refused(&reply, &["cycle"]);

    // A chain five references deep expands; six deep is refused.
    app.secret("dev", "/", "L5", CANARY).await;
    for n in (0..5).rev() {
        app.secret("dev", "/", &format!("L{n}"), &format!("${{L{}}}", n + 1))
            .await;
    }
    let five = app.read_secret(None, "dev", "/", "L0", true).await;
    assert_eq!(value(&five), CANARY);
    app.secret("dev", "/", "DEEP", "${L0}").await;
    let six = app.read_secret(None, "dev", "/", "DEEP", true).await;
    refused(&six, &["at most 5 deep"]);
    // The same chain reached through a memoised path is measured from the new root too.
    app.secret("dev", "/", "WIDE", "${L1}${DEEP}").await;
    let wide = app.read_secret(None, "dev", "/", "WIDE", true).await;
    refused(&wide, &["at most 5 deep"]);

    for (name, stored, needles) in [
        ("MISSING", "${NOWHERE}", vec!["NOWHERE", "does not exist"]),
        (
            "NO_ENV",
            "${qa.KEY}",
            vec!["environment qa", "does not exist"],
        ),
        (
            "NO_FOLDER",
            "${dev.nowhere.KEY}",
            vec!["path /nowhere", "does not exist"],
        ),
        ("BAD", "${dev..KEY}", vec!["empty part"]),
    ] {
        app.secret("dev", "/", name, &format!("{CANARY}{stored}"))
            .await;
        let reply = app.read_secret(None, "dev", "/", name, true).await;
        refused(&reply, &needles);
    }
    // Refused reads are not audited as reads: no value left the server.
    let reads: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'secret.read' and metadata->>'referencesExpanded' = 'true'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(reads, 1, "only the five-deep chain was read");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn expansion_over_the_value_limit_is_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let big = "x".repeat(40 * 1024);
    app.secret("dev", "/", "BIG", &big).await;
    app.secret("dev", "/", "TWICE", "${BIG}${BIG}").await;
    let reply = app.read_secret(None, "dev", "/", "TWICE", true).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("65536 bytes")),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains(&big[..64]));
}

//! Shared by the tests that run the real binary.

use sqlx::PgPool;

/// The URL of the database `#[sqlx::test]` made for this test, for a child process; with an
/// `application_name` when the test must recognise the child's sessions.
pub async fn database_url(pool: &PgPool, application_name: Option<&str>) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("database name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    if let Some(app) = application_name {
        url.set_query(Some(&format!("application_name={app}")));
    }
    url.to_string()
}

/// Bootstraps the instance with a machine identity as its first admin, straight into the
/// database; its client id and secret. (Not every test binary that shares this module uses it.)
#[allow(dead_code)]
pub async fn bootstrap_admin(pool: &PgPool, org_name: &str) -> (String, String) {
    let client_id = uuid::Uuid::new_v4().to_string();
    let client_secret = format!("admin-{}", uuid::Uuid::new_v4().simple());
    let hash = crypto::password::hash_secret(&crypto::SecretString::from(client_secret.clone()))
        .expect("hash");
    store::orgs::bootstrap(
        pool,
        org_name,
        &store::identities::NewIdentity {
            id: store::IdentityId::new(),
            org_id: store::OrgId::new(),
            kind: store::identities::Kind::Machine,
            name: "instance-admin",
            email: None,
            client_id: Some(&client_id),
            secret_hash: &hash,
            is_instance_admin: true,
        },
    )
    .await
    .expect("bootstrap")
    .expect("first bootstrap");
    (client_id, client_secret)
}

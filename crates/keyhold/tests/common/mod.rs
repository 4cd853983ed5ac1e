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

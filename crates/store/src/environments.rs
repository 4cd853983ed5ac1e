//! `environments`: a project's stages (`dev`, `staging`, `prod` made with every project by a
//! trigger, others by project admins). Deleting one deletes its folders and secrets.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::{EnvironmentId, ProjectId, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Environment {
    pub id: EnvironmentId,
    pub project_id: ProjectId,
    pub slug: String,
    pub name: String,
    pub position: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, project_id, slug, name, position, created_at, updated_at";

/// A project's environments, by position then slug.
pub async fn list(pool: &PgPool, project_id: ProjectId) -> Result<Vec<Environment>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from environments where project_id = $1 order by position, slug"
    )))
    .bind(project_id)
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &PgPool, project_id: ProjectId, id: EnvironmentId) -> Result<Environment> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from environments where project_id = $1 and id = $2"
    )))
    .bind(project_id)
    .bind(id)
    .fetch_one(pool)
    .await?)
}

pub async fn by_slug(pool: &PgPool, project_id: ProjectId, slug: &str) -> Result<Environment> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from environments where project_id = $1 and slug = $2"
    )))
    .bind(project_id)
    .bind(slug)
    .fetch_one(pool)
    .await?)
}

/// `position`: `None` puts it after the last one.
pub async fn create(
    conn: &mut PgConnection,
    project_id: ProjectId,
    slug: &str,
    name: &str,
    position: Option<i32>,
) -> Result<Environment> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into environments (id, project_id, slug, name, position) \
         values ($1, $2, $3, $4, coalesce($5, \
           (select coalesce(max(position), 0) + 1 from environments where project_id = $2))) \
         returning {COLUMNS}"
    )))
    .bind(EnvironmentId::new())
    .bind(project_id)
    .bind(slug)
    .bind(name)
    .bind(position)
    .fetch_one(conn)
    .await?)
}

/// Changes what is `Some`.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub slug: Option<&'a str>,
    pub name: Option<&'a str>,
    pub position: Option<i32>,
}

pub async fn update(
    conn: &mut PgConnection,
    project_id: ProjectId,
    id: EnvironmentId,
    change: &Change<'_>,
) -> Result<Environment> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update environments set slug = coalesce($3, slug), name = coalesce($4, name), \
         position = coalesce($5, position), updated_at = now() \
         where project_id = $1 and id = $2 returning {COLUMNS}"
    )))
    .bind(project_id)
    .bind(id)
    .bind(change.slug)
    .bind(change.name)
    .bind(change.position)
    .fetch_one(conn)
    .await?)
}

/// Deletes the environment with its folders and secrets; returns it and how many secrets went.
/// Every secret is reported as `secret.deleted` (`deletedWith: "environment"`), written by `by`.
pub async fn delete(
    conn: &mut PgConnection,
    project_id: ProjectId,
    id: EnvironmentId,
    by: &crate::secrets::Writer,
) -> Result<(Environment, i64)> {
    use crate::secrets::events::{Container, report_removed_with};
    let exists: bool = sqlx::query_scalar(
        "select exists (select 1 from environments where project_id = $1 and id = $2)",
    )
    .bind(project_id)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if exists {
        report_removed_with(&mut *conn, Container::Environment(id), *by).await?;
    }
    let secrets: i64 = sqlx::query_scalar("select count(*) from secrets where environment_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let environment = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "delete from environments where project_id = $1 and id = $2 returning {COLUMNS}"
    )))
    .bind(project_id)
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok((environment, secrets))
}

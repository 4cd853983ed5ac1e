//! Projects: the tenancy boundary every connection belongs to.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::page::{Cursor, Page, PageRequest};
use crate::{OrgId, ProjectId, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug)]
pub struct NewProject<'a> {
    pub org_id: OrgId,
    pub name: &'a str,
    pub description: Option<&'a str>,
}

pub async fn create(conn: &mut PgConnection, new: &NewProject<'_>) -> Result<Project> {
    let row = sqlx::query_as(
        r#"insert into projects (id, org_id, name, description)
           values ($1, $2, $3, $4)
           returning id, org_id, name, description, created_at, updated_at"#,
    )
    .bind(ProjectId::new())
    .bind(new.org_id)
    .bind(new.name)
    .bind(new.description)
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// A project of this organisation; `NotFound` for another organisation's id as for an unknown one.
pub async fn get(pool: &PgPool, org_id: OrgId, id: ProjectId) -> Result<Project> {
    let row = sqlx::query_as(
        r#"select id, org_id, name, description, created_at, updated_at
           from projects where id = $1 and org_id = $2"#,
    )
    .bind(id)
    .bind(org_id)
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// `visible`: `None` for every project of the organisation (instance admins), else only these.
pub async fn list(
    pool: &PgPool,
    org_id: OrgId,
    visible: Option<&[ProjectId]>,
    page: &PageRequest,
) -> Result<Page<Project>> {
    let (after_name, after_id) = match &page.after {
        Some(c) => (Some(c.name.as_str()), Some(c.id)),
        None => (None, None),
    };
    let rows: Vec<Project> = sqlx::query_as(
        r#"select id, org_id, name, description, created_at, updated_at
           from projects
           where org_id = $1 and ($2::text is null or (name, id) > ($2, $3))
             and ($5::uuid[] is null or id = any($5))
           order by name, id
           limit $4"#,
    )
    .bind(org_id)
    .bind(after_name)
    .bind(after_id)
    .bind(i64::from(page.limit) + 1)
    .bind(visible.map(|ids| ids.iter().map(|p| p.0).collect::<Vec<_>>()))
    .fetch_all(pool)
    .await?;
    Ok(Page::from_overfetch(rows, page.limit, |p| Cursor {
        name: p.name.clone(),
        id: p.id.0,
    }))
}

/// What a rename changes: `description` `Some(None)` clears it; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub name: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
}

/// Renames (or re-describes) a project of this organisation; `NotFound` as for `get`.
pub async fn update(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: ProjectId,
    change: &Change<'_>,
) -> Result<Project> {
    let row = sqlx::query_as(
        r#"update projects
           set name = coalesce($3, name),
               description = case when $4 then $5 else description end,
               updated_at = now()
           where id = $1 and org_id = $2
           returning id, org_id, name, description, created_at, updated_at"#,
    )
    .bind(id)
    .bind(org_id)
    .bind(change.name)
    .bind(change.description.is_some())
    .bind(change.description.flatten())
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// How many connections and secrets the project holds: a project is deleted only when empty.
pub async fn contents(conn: &mut PgConnection, id: ProjectId) -> Result<(i64, i64)> {
    let row = sqlx::query_as(
        r#"select (select count(*) from app_connections where project_id = $1),
                  (select count(*) from secrets where project_id = $1)"#,
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// Deletes a project of this organisation with its memberships, environments, folders, webhooks
/// and streams (they cascade); connections and rotations keep it (foreign keys without cascade).
pub async fn delete(conn: &mut PgConnection, org_id: OrgId, id: ProjectId) -> Result<Project> {
    let row = sqlx::query_as(
        r#"delete from projects where id = $1 and org_id = $2
           returning id, org_id, name, description, created_at, updated_at"#,
    )
    .bind(id)
    .bind(org_id)
    .fetch_one(conn)
    .await?;
    Ok(row)
}

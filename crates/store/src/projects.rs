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

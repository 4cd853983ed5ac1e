//! `project_memberships`: who may do what in a project.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::{IdentityId, ProjectId, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Membership {
    pub project_id: ProjectId,
    pub identity_id: IdentityId,
    pub role: String,
    pub name: String,
    pub kind: String,
    /// Environments (slugs) the membership is narrowed to; `None`: every one.
    pub environments: Option<Vec<String>>,
    /// The folder the membership is narrowed to, with everything below it; `None`: the whole
    /// environment.
    pub secret_path: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

pub async fn list(pool: &PgPool, project_id: ProjectId) -> Result<Vec<Membership>> {
    Ok(sqlx::query_as(
        "select m.project_id, m.identity_id, m.role, i.name, i.kind, m.environments, m.secret_path, \
                m.created_at, m.updated_at \
         from project_memberships m join identities i on i.id = m.identity_id \
         where m.project_id = $1 order by i.name, i.id",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?)
}

pub async fn insert(
    conn: &mut PgConnection,
    project_id: ProjectId,
    identity_id: IdentityId,
    role: &str,
) -> Result<()> {
    sqlx::query(
        "insert into project_memberships (project_id, identity_id, role) values ($1, $2, $3)",
    )
    .bind(project_id)
    .bind(identity_id)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_role(
    conn: &mut PgConnection,
    project_id: ProjectId,
    identity_id: IdentityId,
    role: &str,
) -> Result<()> {
    let done = sqlx::query(
        "update project_memberships set role = $3, updated_at = now() where project_id = $1 and identity_id = $2",
    )
    .bind(project_id)
    .bind(identity_id)
    .bind(role)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}

/// What a membership is narrowed to; both `None` is the whole project.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub environments: Option<Vec<String>>,
    pub secret_path: Option<String>,
}

/// Sets a membership's role and what it is narrowed to, in one statement (an admin cannot be
/// narrowed, `project_memberships_admin_unnarrowed_check`, so the two change together). The API
/// has normalised the path.
pub async fn set_role_and_narrowing(
    conn: &mut PgConnection,
    project_id: ProjectId,
    identity_id: IdentityId,
    role: &str,
    narrowing: &Narrowing,
) -> Result<()> {
    let done = sqlx::query(
        "update project_memberships set role = $3, environments = $4, secret_path = $5, \
         updated_at = now() where project_id = $1 and identity_id = $2",
    )
    .bind(project_id)
    .bind(identity_id)
    .bind(role)
    .bind(&narrowing.environments)
    .bind(&narrowing.secret_path)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}

pub async fn delete(
    conn: &mut PgConnection,
    project_id: ProjectId,
    identity_id: IdentityId,
) -> Result<()> {
    let done =
        sqlx::query("delete from project_memberships where project_id = $1 and identity_id = $2")
            .bind(project_id)
            .bind(identity_id)
            .execute(conn)
            .await?;
    if done.rows_affected() == 0 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}

/// Serializes changes that can remove a project's admins: taken first in the transaction, it makes
/// a concurrent demotion wait until this one commits, so the `count_admins` after it sees the other
/// change. Without it two admins demoting each other both counted the other as still admin.
/// `no key update` leaves inserts that reference the project (their key-share locks) unblocked.
pub async fn lock_admins(conn: &mut PgConnection, project_id: ProjectId) -> Result<()> {
    let locked: Option<ProjectId> =
        sqlx::query_scalar("select id from projects where id = $1 for no key update")
            .bind(project_id)
            .fetch_optional(conn)
            .await?;
    locked.map(|_| ()).ok_or(crate::Error::NotFound)
}

/// Admins left in a project: the last one cannot be removed or demoted, or nobody could manage it.
/// Only meaningful after [`lock_admins`] in the same transaction.
pub async fn count_admins(conn: &mut PgConnection, project_id: ProjectId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from project_memberships where project_id = $1 and role = 'admin'",
    )
    .bind(project_id)
    .fetch_one(conn)
    .await?)
}

//! `access_tokens`: bearer tokens by SHA-256. Verifying one is a single indexed lookup that also
//! brings the caller's memberships, so a request needs no further query to authorise.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{IdentityId, OrgId, ProjectId, Result};

/// Who a valid token belongs to, with every project role they hold.
#[derive(Clone, Debug)]
pub struct TokenOwner {
    pub token_id: Uuid,
    pub identity_id: IdentityId,
    pub org_id: OrgId,
    pub kind: String,
    pub is_instance_admin: bool,
    pub expires_at: OffsetDateTime,
    pub memberships: Vec<(ProjectId, String)>,
    /// The narrowed memberships among them (see `memberships::Narrowing`).
    pub narrowed: Vec<(ProjectId, crate::memberships::Narrowing)>,
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    token_id: Uuid,
    identity_id: IdentityId,
    org_id: OrgId,
    kind: String,
    is_instance_admin: bool,
    expires_at: OffsetDateTime,
    project_ids: Vec<Uuid>,
    roles: Vec<String>,
    /// Per membership: its environments joined by `,` (slugs cannot hold one), or null.
    environments: Vec<Option<String>>,
    secret_paths: Vec<Option<String>>,
}

pub async fn insert(
    conn: &mut PgConnection,
    identity_id: IdentityId,
    token_hash: &[u8],
    expires_at: OffsetDateTime,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("insert into access_tokens (id, identity_id, token_hash, expires_at) values ($1, $2, $3, $4)")
        .bind(id)
        .bind(identity_id)
        .bind(token_hash)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(id)
}

/// The owner of an unexpired, unrevoked token of an enabled identity.
pub async fn owner(pool: &PgPool, token_hash: &[u8]) -> Result<Option<TokenOwner>> {
    let row: Option<OwnerRow> = sqlx::query_as(
        "select t.id as token_id, i.id as identity_id, i.org_id, i.kind, i.is_instance_admin, t.expires_at, \
                coalesce(array_agg(m.project_id) filter (where m.project_id is not null), '{}') as project_ids, \
                coalesce(array_agg(m.role) filter (where m.project_id is not null), '{}') as roles, \
                coalesce(array_agg(array_to_string(m.environments, ',')) filter (where m.project_id is not null), '{}') as environments, \
                coalesce(array_agg(m.secret_path) filter (where m.project_id is not null), '{}') as secret_paths \
         from access_tokens t \
         join identities i on i.id = t.identity_id \
         left join project_memberships m on m.identity_id = i.id \
         where t.token_hash = $1 and t.revoked_at is null and t.expires_at > now() and i.disabled_at is null \
         group by t.id, i.id",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let narrowed = r
            .project_ids
            .iter()
            .zip(r.environments)
            .zip(r.secret_paths)
            .filter(|((_, e), p)| e.is_some() || p.is_some())
            .map(|((project, environments), secret_path)| {
                (
                    ProjectId(*project),
                    crate::memberships::Narrowing {
                        environments: environments
                            .map(|e| e.split(',').map(str::to_owned).collect()),
                        secret_path,
                    },
                )
            })
            .collect();
        TokenOwner {
            token_id: r.token_id,
            identity_id: r.identity_id,
            org_id: r.org_id,
            kind: r.kind,
            is_instance_admin: r.is_instance_admin,
            expires_at: r.expires_at,
            memberships: r
                .project_ids
                .into_iter()
                .map(ProjectId)
                .zip(r.roles)
                .collect(),
            narrowed,
        }
    }))
}

/// Revokes a token of `identity_id`; `false` when there was no such live token.
pub async fn revoke(
    conn: &mut PgConnection,
    identity_id: IdentityId,
    token_hash: &[u8],
) -> Result<bool> {
    let done = sqlx::query(
        "update access_tokens set revoked_at = now() \
         where token_hash = $1 and identity_id = $2 and revoked_at is null",
    )
    .bind(token_hash)
    .bind(identity_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live token of an identity (on disable, or when its secret is rotated).
pub async fn revoke_all(conn: &mut PgConnection, identity_id: IdentityId) -> Result<u64> {
    let done = sqlx::query(
        "update access_tokens set revoked_at = now() where identity_id = $1 and revoked_at is null",
    )
    .bind(identity_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

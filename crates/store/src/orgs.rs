//! The instance's organisation. There is exactly one; its id is `orgId` in every response.

use sqlx::PgPool;

use crate::{OrgId, Result};

/// The instance's organisation, if `keyhold bootstrap` has run.
pub async fn instance_org(pool: &PgPool) -> Result<Option<OrgId>> {
    Ok(
        sqlx::query_scalar("select id from orgs order by created_at limit 1")
            .fetch_optional(pool)
            .await?,
    )
}

/// Creates the organisation and its first instance admin in one transaction, unless the instance
/// is already bootstrapped (then `None`). The advisory lock makes two concurrent bootstraps safe.
pub async fn bootstrap(
    pool: &PgPool,
    org_name: &str,
    admin: &crate::identities::NewIdentity<'_>,
) -> Result<Option<crate::identities::Identity>> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('keyhold.orgs.instance'))")
        .execute(&mut *tx)
        .await?;
    let existing: Option<OrgId> = sqlx::query_scalar("select id from orgs limit 1")
        .fetch_optional(&mut *tx)
        .await?;
    if existing.is_some() {
        return Ok(None);
    }
    sqlx::query("insert into orgs (id, name) values ($1, $2)")
        .bind(admin.org_id)
        .bind(org_name)
        .execute(&mut *tx)
        .await?;
    let identity = crate::identities::insert(&mut tx, admin).await?;
    tx.commit().await?;
    Ok(Some(identity))
}

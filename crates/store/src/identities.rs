//! `identities`: users and machine identities. Only hashes of their secrets are stored; hashing and
//! verifying happen in the layer above, on the blocking pool.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::page::{Cursor, Page, PageRequest};
use crate::{IdentityId, OrgId, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    Machine,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Machine => "machine",
        }
    }
}

/// An identity as the API shows it. The hashes are deliberately not part of this type.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Identity {
    pub id: IdentityId,
    pub org_id: OrgId,
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    pub client_id: Option<String>,
    pub is_instance_admin: bool,
    pub disabled_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

macro_rules! columns {
    () => {
        "id, org_id, kind, name, email, client_id, is_instance_admin, disabled_at, created_at, updated_at"
    };
}

/// What a new identity is made of. `secret_hash` is the argon2id PHC string of its password or
/// client secret.
pub struct NewIdentity<'a> {
    pub id: IdentityId,
    pub org_id: OrgId,
    pub kind: Kind,
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub secret_hash: &'a str,
    pub is_instance_admin: bool,
}

// Leaves the hash out: a leaked hash is an offline guessing target.
impl std::fmt::Debug for NewIdentity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewIdentity")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub async fn insert(conn: &mut PgConnection, new: &NewIdentity<'_>) -> Result<Identity> {
    let (password_hash, client_secret_hash) = match new.kind {
        Kind::User => (Some(new.secret_hash), None),
        Kind::Machine => (None, Some(new.secret_hash)),
    };
    let sql = concat!(
        "insert into identities (id, org_id, kind, name, email, password_hash, client_id, client_secret_hash, \
         is_instance_admin) values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning ",
        columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(new.id)
        .bind(new.org_id)
        .bind(new.kind.as_str())
        .bind(new.name)
        .bind(new.email)
        .bind(password_hash)
        .bind(new.client_id)
        .bind(client_secret_hash)
        .bind(new.is_instance_admin)
        .fetch_one(conn)
        .await?)
}

pub async fn get(pool: &PgPool, org_id: OrgId, id: IdentityId) -> Result<Identity> {
    let sql = concat!(
        "select ",
        columns!(),
        " from identities where id = $1 and org_id = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(pool)
        .await?)
}

pub async fn list(pool: &PgPool, org_id: OrgId, page: &PageRequest) -> Result<Page<Identity>> {
    let (after_name, after_id) = match &page.after {
        Some(c) => (Some(c.name.as_str()), Some(c.id)),
        None => (None, None),
    };
    let sql = concat!(
        "select ",
        columns!(),
        " from identities where org_id = $1 and ($2::text is null or (name, id) > ($2, $3)) \
         order by name, id limit $4"
    );
    let rows: Vec<Identity> = sqlx::query_as(sql)
        .bind(org_id)
        .bind(after_name)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(pool)
        .await?;
    Ok(Page::from_overfetch(rows, page.limit, |i| Cursor {
        name: i.name.clone(),
        id: i.id.0,
    }))
}

/// The hash to verify at login, for an enabled identity only.
#[derive(sqlx::FromRow)]
pub struct LoginRecord {
    pub id: IdentityId,
    pub org_id: OrgId,
    pub secret_hash: String,
}

// Leaves the hash out: a leaked hash is an offline guessing target.
impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

pub async fn login_by_client_id(pool: &PgPool, client_id: &str) -> Result<Option<LoginRecord>> {
    Ok(sqlx::query_as(
        "select id, org_id, client_secret_hash as secret_hash from identities \
         where client_id = $1 and kind = 'machine' and disabled_at is null",
    )
    .bind(client_id)
    .fetch_optional(pool)
    .await?)
}

pub async fn login_by_email(pool: &PgPool, email: &str) -> Result<Option<LoginRecord>> {
    Ok(sqlx::query_as(
        "select id, org_id, password_hash as secret_hash from identities \
         where lower(email) = lower($1) and kind = 'user' and disabled_at is null",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?)
}

/// A partial update by an instance admin.
#[derive(Default, Debug)]
pub struct Change<'a> {
    pub name: Option<&'a str>,
    pub disabled: Option<bool>,
    pub is_instance_admin: Option<bool>,
}

pub async fn update(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: IdentityId,
    change: &Change<'_>,
) -> Result<Identity> {
    let sql = concat!(
        "update identities set name = coalesce($3, name), \
         disabled_at = case when $4::boolean is null then disabled_at when $4 then coalesce(disabled_at, now()) else null end, \
         is_instance_admin = coalesce($5, is_instance_admin), updated_at = now() \
         where id = $1 and org_id = $2 returning ",
        columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .bind(change.name)
        .bind(change.disabled)
        .bind(change.is_instance_admin)
        .fetch_one(conn)
        .await?)
}

/// Replaces a machine identity's secret hash.
pub async fn set_client_secret_hash(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: IdentityId,
    hash: &str,
) -> Result<Identity> {
    let sql = concat!(
        "update identities set client_secret_hash = $3, updated_at = now() \
         where id = $1 and org_id = $2 and kind = 'machine' returning ",
        columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .bind(hash)
        .fetch_one(conn)
        .await?)
}

pub async fn delete(conn: &mut PgConnection, org_id: OrgId, id: IdentityId) -> Result<Identity> {
    let sql = concat!(
        "delete from identities where id = $1 and org_id = $2 returning ",
        columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(conn)
        .await?)
}

/// Serializes changes that can remove an organisation's instance admins (demotion, disabling,
/// deletion): taken first in the transaction, so the `count_enabled_admins` after it sees any
/// concurrent change that committed first. `no key update` leaves inserts that reference the
/// organisation unblocked.
pub async fn lock_admins(conn: &mut PgConnection, org_id: OrgId) -> Result<()> {
    let locked: Option<OrgId> =
        sqlx::query_scalar("select id from orgs where id = $1 for no key update")
            .bind(org_id)
            .fetch_optional(conn)
            .await?;
    locked.map(|_| ()).ok_or(crate::Error::NotFound)
}

/// How many enabled instance admins remain: the last one may not be disabled, demoted or deleted.
/// Only meaningful after [`lock_admins`] in the same transaction.
pub async fn count_enabled_admins(conn: &mut PgConnection, org_id: OrgId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from identities where org_id = $1 and is_instance_admin and disabled_at is null",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await?)
}

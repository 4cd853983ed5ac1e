//! `app_connections`: Auth0 connections with their secret only as a sealed envelope. This module
//! never sees plaintext; sealing and opening happen in the layer that holds the keyring.
//!
//! Two methods: `client-credentials` (a sealed client secret) and `private-key-jwt` (no secret
//! here: the public half of a key pair whose sealed private half is in `connection_keys`).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::page::{
    self, Counted, Cursor, PageRequest, Positional, fetch_counted, like_pattern, push_capped_count,
};
use crate::{ConnectionId, Error, OrgId, ProjectId, Result};

/// Ciphertext from `crypto`: not secret by itself, but noisy, so `Debug` prints only its size.
#[derive(Clone, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Connection {
    pub id: ConnectionId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub app: String,
    pub method: String,
    pub name: String,
    pub description: Option<String>,
    pub domain: String,
    pub client_id: String,
    pub audience: String,
    /// `None` for a `private-key-jwt` connection (its private key is in `connection_keys`).
    pub client_secret_sealed: Option<Sealed>,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The last scope check: capability → the scopes it lacks (see [`record_scope_check`]).
    pub scope_check: Option<serde_json::Value>,
    pub scope_checked_at: Option<OffsetDateTime>,
    /// `private-key-jwt` only: the public key (`kid`, algorithm, SPKI PEM, JWK) and when Keyhold
    /// first obtained a token with it (`None`: not registered in Auth0 yet, as far as we know).
    #[sqlx(flatten)]
    pub key: PublicKeyColumns,
}

/// The public-key columns of a connection; all `None` for `client-credentials`.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct PublicKeyColumns {
    pub key_kid: Option<String>,
    pub key_alg: Option<String>,
    pub public_key_pem: Option<String>,
    pub public_key_jwk: Option<serde_json::Value>,
    pub key_registered_at: Option<OffsetDateTime>,
}

/// A connection as a list shows it: no sealed secret and no public key material (PEM, JWK), which
/// a page of 100 would carry and no row displays, and the last scope check decoded straight into
/// its typed map rather than a JSON tree.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: ConnectionId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub app: String,
    pub method: String,
    pub name: String,
    pub description: Option<String>,
    pub domain: String,
    pub client_id: String,
    pub audience: String,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The last scope check reduced to capability names (see [`ScopeSummary`]).
    pub scope_check: Option<sqlx::types::Json<ScopeSummary>>,
    pub scope_checked_at: Option<OffsetDateTime>,
    pub key_kid: Option<String>,
    pub key_alg: Option<String>,
    pub key_registered_at: Option<OffsetDateTime>,
}

/// A stored scope check (capability → the Management API scopes it lacks, as
/// [`record_scope_check`] writes it) reduced to the names of the capabilities that are usable and
/// of those lacking a scope, each in name order. Decoded straight from the JSON: a list reads one
/// per row, and building the map of scope strings first was a tenth of a page's server CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSummary {
    pub usable: Vec<String>,
    pub lacking: Vec<String>,
}

impl<'de> serde::Deserialize<'de> for ScopeSummary {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(SummaryVisitor)
    }
}

struct SummaryVisitor;

impl<'de> serde::de::Visitor<'de> for SummaryVisitor {
    type Value = ScopeSummary;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of capability names to arrays of missing scopes")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<ScopeSummary, A::Error> {
        let mut summary = ScopeSummary::default();
        while let Some(name) = map.next_key::<String>()? {
            let MissingCount(missing) = map.next_value()?;
            if missing == 0 {
                summary.usable.push(name);
            } else {
                summary.lacking.push(name);
            }
        }
        // jsonb keeps object keys shortest first, not by name.
        summary.usable.sort_unstable();
        summary.lacking.sort_unstable();
        Ok(summary)
    }
}

/// How many scopes an array lists, counted without keeping them.
struct MissingCount(usize);

impl<'de> serde::Deserialize<'de> for MissingCount {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Counter;
        impl<'de> serde::de::Visitor<'de> for Counter {
            type Value = MissingCount;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of scopes")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<MissingCount, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(MissingCount(n))
            }
        }
        deserializer.deserialize_seq(Counter)
    }
}

/// By position, in the order of [`listed_columns!`] (see [`Positional`]).
impl<'r> sqlx::FromRow<'r, PgRow> for Listed {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let mut at = Positional::new(row);
        Ok(Listed {
            id: at.take("id")?,
            org_id: at.take("org_id")?,
            project_id: at.take("project_id")?,
            app: at.take("app")?,
            method: at.take("method")?,
            name: at.take("name")?,
            description: at.take("description")?,
            domain: at.take("domain")?,
            client_id: at.take("client_id")?,
            audience: at.take("audience")?,
            version: at.take("version")?,
            created_at: at.take("created_at")?,
            updated_at: at.take("updated_at")?,
            scope_check: at.take("scope_check")?,
            scope_checked_at: at.take("scope_checked_at")?,
            key_kid: at.take("key_kid")?,
            key_alg: at.take("key_alg")?,
            key_registered_at: at.take("key_registered_at")?,
        })
    }
}

impl Listed {
    /// A `private-key-jwt` connection whose key Keyhold has not yet used successfully.
    pub fn awaits_registration(&self) -> bool {
        self.method == METHOD_PRIVATE_KEY_JWT && self.key_registered_at.is_none()
    }
}

pub const METHOD_CLIENT_CREDENTIALS: &str = "client-credentials";
pub const METHOD_PRIVATE_KEY_JWT: &str = "private-key-jwt";

impl Connection {
    /// Authenticates to Auth0 with a signed assertion rather than a client secret.
    pub fn uses_private_key(&self) -> bool {
        self.method == METHOD_PRIVATE_KEY_JWT
    }

    /// A `private-key-jwt` connection whose key Keyhold has not yet used successfully.
    pub fn awaits_registration(&self) -> bool {
        self.uses_private_key() && self.key.key_registered_at.is_none()
    }
}

/// The column list every query returns, as a macro so statements stay `&'static str` (sqlx refuses
/// SQL built at run time unless it is marked audited).
macro_rules! columns {
    () => {
        "id, org_id, project_id, app, method, name, description, domain, client_id, audience, \
         client_secret_sealed, version, created_at, updated_at, scope_check, scope_checked_at, \
         key_kid, key_alg, public_key_pem, public_key_jwk, key_registered_at"
    };
}

/// The columns of [`Listed`], in the order its `FromRow` reads them.
macro_rules! listed_columns {
    () => {
        "id, org_id, project_id, app, method, name, description, domain, client_id, audience, \
         version, created_at, updated_at, scope_check, scope_checked_at, key_kid, key_alg, \
         key_registered_at"
    };
}

/// Everything a new connection needs. The id is chosen by the caller because the sealed secret's
/// associated data already names it.
#[derive(Debug)]
pub struct NewConnection<'a> {
    pub id: ConnectionId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub method: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub credentials: Credentials<'a>,
}

#[derive(Debug)]
pub struct Credentials<'a> {
    pub domain: &'a str,
    pub client_id: &'a str,
    pub audience: &'a str,
    pub client_secret_sealed: &'a Sealed,
}

pub async fn insert(conn: &mut PgConnection, new: &NewConnection<'_>) -> Result<Connection> {
    let sql = concat!(
        "insert into app_connections (id, org_id, project_id, method, name, description, domain, \
         client_id, audience, client_secret_sealed) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         returning ",
        columns!()
    );
    let row = sqlx::query_as(sql)
        .bind(new.id)
        .bind(new.org_id)
        .bind(new.project_id)
        .bind(new.method)
        .bind(new.name)
        .bind(new.description)
        .bind(new.credentials.domain)
        .bind(new.credentials.client_id)
        .bind(new.credentials.audience)
        .bind(new.credentials.client_secret_sealed)
        .fetch_one(conn)
        .await?;
    Ok(row)
}

/// The public half of a connection's key pair, stored beside the connection.
#[derive(Debug)]
pub struct PublicKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub pem: &'a str,
    pub jwk: &'a serde_json::Value,
}

/// A new `private-key-jwt` connection. Its sealed private key is inserted in the same transaction
/// with [`crate::connection_keys::insert`].
#[derive(Debug)]
pub struct NewKeyConnection<'a> {
    pub id: ConnectionId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub domain: &'a str,
    pub client_id: &'a str,
    pub audience: &'a str,
    pub public_key: PublicKey<'a>,
}

pub async fn insert_with_key(
    conn: &mut PgConnection,
    new: &NewKeyConnection<'_>,
) -> Result<Connection> {
    let sql = concat!(
        "insert into app_connections (id, org_id, project_id, method, name, description, domain, \
         client_id, audience, key_kid, key_alg, public_key_pem, public_key_jwk) \
         values ($1, $2, $3, 'private-key-jwt', $4, $5, $6, $7, $8, $9, $10, $11, $12) returning ",
        columns!()
    );
    let row = sqlx::query_as(sql)
        .bind(new.id)
        .bind(new.org_id)
        .bind(new.project_id)
        .bind(new.name)
        .bind(new.description)
        .bind(new.domain)
        .bind(new.client_id)
        .bind(new.audience)
        .bind(new.public_key.kid)
        .bind(new.public_key.alg)
        .bind(new.public_key.pem)
        .bind(new.public_key.jwk)
        .fetch_one(conn)
        .await?;
    Ok(row)
}

/// Records that Keyhold obtained a token with the connection's key (first time only): it is
/// registered and enabled in Auth0. Not a change of the connection's credentials, so the version
/// (and the token cache entry keyed on it) stays. Returns the time recorded.
pub async fn mark_key_registered(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: ConnectionId,
) -> Result<Option<OffsetDateTime>> {
    let at = sqlx::query_scalar(
        "update app_connections set key_registered_at = coalesce(key_registered_at, now()) \
         where id = $1 and org_id = $2 and method = 'private-key-jwt' returning key_registered_at",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    Ok(at)
}

pub async fn get(pool: &PgPool, org_id: OrgId, id: ConnectionId) -> Result<Connection> {
    let sql = concat!(
        "select ",
        columns!(),
        " from app_connections where id = $1 and org_id = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(pool)
        .await?)
}

/// Many reads by id, each in its own organisation, in one statement: one entry per read, in
/// order, `None` where the id is unknown or belongs to another organisation. A read asked twice
/// gets the row twice.
pub async fn get_in_orgs(
    conn: &mut PgConnection,
    reads: &[(OrgId, ConnectionId)],
) -> Result<Vec<Option<Connection>>> {
    let ids: Vec<uuid::Uuid> = reads.iter().map(|(_, id)| id.0).collect();
    let rows = get_many_uuids(conn, ids).await?;
    Ok(crate::reads::hand_out(reads, rows, |row, &(org_id, id)| {
        row.id == id && row.org_id == org_id
    }))
}

/// The connections with these ids, in any order; missing ids are left out. For the worker, which
/// reads the connections of a batch of claimed rotations at once: callers check `org_id`.
pub async fn get_many(pool: &PgPool, ids: &[ConnectionId]) -> Result<Vec<Connection>> {
    get_many_uuids(pool, ids.iter().map(|id| id.0).collect()).await
}

async fn get_many_uuids<'e>(
    db: impl sqlx::PgExecutor<'e>,
    ids: Vec<uuid::Uuid>,
) -> Result<Vec<Connection>> {
    let sql = concat!(
        "select ",
        columns!(),
        " from app_connections where id = any($1)"
    );
    Ok(sqlx::query_as(sql).bind(ids).fetch_all(db).await?)
}

pub async fn get_by_name(pool: &PgPool, project_id: ProjectId, name: &str) -> Result<Connection> {
    let sql = concat!(
        "select ",
        columns!(),
        " from app_connections where project_id = $1 and name = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(project_id)
        .bind(name)
        .fetch_one(pool)
        .await?)
}

/// Which connections a list shows.
#[derive(Clone, Debug)]
pub struct ListFilter {
    pub org_id: OrgId,
    /// `None`: every project of the organisation the caller can see (dashboards).
    pub project_id: Option<ProjectId>,
    /// With `project_id: None`, only these projects (`None`: all of the organisation).
    pub visible: Option<Vec<ProjectId>>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Only connections whose last scope check found a capability lacking a scope.
    pub missing_scope: bool,
}

/// The `where` clause of a list (and of its count), after `after` when given.
fn push_filter(q: &mut QueryBuilder<Postgres>, filter: &ListFilter, after: Option<&Cursor>) {
    match filter.project_id {
        Some(project_id) => {
            q.push("project_id = ").push_bind(project_id);
            q.push(" and org_id = ").push_bind(filter.org_id);
            if let Some(after) = after {
                q.push(" and name > ").push_bind(after.name.clone());
            }
        }
        None => {
            q.push("org_id = ").push_bind(filter.org_id);
            if let Some(visible) = &filter.visible {
                let ids: Vec<uuid::Uuid> = visible.iter().map(|p| p.0).collect();
                q.push(" and project_id = any(").push_bind(ids).push(")");
            }
            if let Some(after) = after {
                q.push(" and (name, id) > (")
                    .push_bind(after.name.clone())
                    .push(", ")
                    .push_bind(after.id)
                    .push(")");
            }
        }
    }
    if let Some(search) = &filter.search {
        q.push(" and name ilike ").push_bind(like_pattern(search));
    }
    if filter.missing_scope {
        q.push(
            " and jsonb_typeof(scope_check) = 'object' and exists (select 1 from jsonb_each(scope_check) c \
               where jsonb_typeof(c.value) = 'array' and jsonb_array_length(c.value) > 0)",
        );
    }
}

/// One page ordered by `(name, id)`, with the total of the whole list (up to `cap` where it is
/// counted, see [`push_total`]) read by the same statement. Within a project the name alone is
/// unique and the `(project_id, name)` constraint index serves the range; across projects
/// `(org_id, name, id)` does.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    page: &PageRequest,
    cap: u32,
) -> Result<Counted<Listed>> {
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(concat!("select ", listed_columns!(), ", "));
    push_total(&mut q, filter, cap);
    q.push(" from app_connections where ");
    push_filter(&mut q, filter, page.after.as_ref());
    q.push(" order by name, id");
    page.push_limit(&mut q);
    let key = |c: &Listed| Cursor {
        name: c.name.clone(),
        id: c.id.0,
    };
    fetch_counted(pool, &mut q, page.limit, key, |q| {
        push_total(q, filter, cap)
    })
    .await
}

/// How many connections `filter` matches (see [`push_total`]); a list reads it with its page.
pub async fn count(pool: &PgPool, filter: &ListFilter, cap: u32) -> Result<Option<u32>> {
    page::total(pool, |q| push_total(q, filter, cap)).await
}

/// The total of a list as a scalar subquery. Unfiltered, from the per-project counts the triggers
/// of migration `connection_counts` keep: exact, and one index lookup per project (the project's,
/// or those of the organisation the caller may see). With a search or the missing-scope filter,
/// counted up to `cap` (see [`push_capped_count`]).
fn push_total(q: &mut QueryBuilder<Postgres>, filter: &ListFilter, cap: u32) {
    if filter.search.is_some() || filter.missing_scope {
        push_capped_count(q, "app_connections", cap, |q| push_filter(q, filter, None));
        return;
    }
    q.push(
        "(select coalesce(sum(c.connections), 0)::bigint from app_connection_counts c \
         join projects p on p.id = c.project_id where p.org_id = ",
    )
    .push_bind(filter.org_id);
    match (filter.project_id, &filter.visible) {
        (Some(project_id), _) => {
            q.push(" and c.project_id = ").push_bind(project_id);
        }
        (None, Some(visible)) => {
            let ids: Vec<uuid::Uuid> = visible.iter().map(|p| p.0).collect();
            q.push(" and c.project_id = any(").push_bind(ids).push(")");
        }
        (None, None) => {}
    }
    q.push(")");
}

/// A partial update. `None` leaves a field as it is; `description: Some(None)` clears it.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub name: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub credentials: Option<Credentials<'a>>,
}

/// Applies `change` if the row is still at `expected_version`, bumping the version.
pub async fn update(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: ConnectionId,
    expected_version: i64,
    change: &Change<'_>,
) -> Result<Connection> {
    let creds = change.credentials.as_ref();
    let sql = concat!(
        "update app_connections set \
           name = coalesce($4, name), \
           description = case when $5 then $6 else description end, \
           domain = coalesce($7, domain), \
           client_id = coalesce($8, client_id), \
           audience = coalesce($9, audience), \
           client_secret_sealed = coalesce($10, client_secret_sealed), \
           secret_bound = secret_bound or $10 is not null, \
           version = version + 1, \
           updated_at = now() \
         where id = $1 and org_id = $2 and version = $3 \
         returning ",
        columns!()
    );
    let row: Option<Connection> = sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .bind(expected_version)
        .bind(change.name)
        .bind(change.description.is_some())
        .bind(change.description.flatten())
        .bind(creds.map(|c| c.domain))
        .bind(creds.map(|c| c.client_id))
        .bind(creds.map(|c| c.audience))
        .bind(creds.map(|c| c.client_secret_sealed))
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row),
        None => Err(version_miss(conn, org_id, id).await),
    }
}

/// Deletes the row if it is still at `expected_version` (when given) and returns what was removed.
pub async fn delete(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: ConnectionId,
    expected_version: Option<i64>,
) -> Result<Connection> {
    let sql = concat!(
        "delete from app_connections where id = $1 and org_id = $2 \
         and ($3::bigint is null or version = $3) returning ",
        columns!()
    );
    let row: Option<Connection> = sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row),
        None => Err(version_miss(conn, org_id, id).await),
    }
}

/// Why a version-fenced write on this table touched no row.
async fn version_miss(conn: &mut PgConnection, org_id: OrgId, id: ConnectionId) -> Error {
    crate::error::version_miss(
        conn,
        "select version from app_connections where id = $1 and org_id = $2",
        org_id,
        id.0,
    )
    .await
}

/// Records what a scope check found (capability → missing scopes), merged over the capabilities
/// checked before so a partial check keeps the others. Not a change of the connection: the version
/// and `updated_at` stay. Returns the time recorded.
pub async fn record_scope_check(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: ConnectionId,
    capabilities: &serde_json::Value,
) -> Result<Option<OffsetDateTime>> {
    let at = sqlx::query_scalar(
        "update app_connections set scope_check = coalesce(scope_check, '{}'::jsonb) || $3, \
         scope_checked_at = now() where id = $1 and org_id = $2 returning scope_checked_at",
    )
    .bind(id)
    .bind(org_id)
    .bind(capabilities)
    .fetch_optional(conn)
    .await?;
    Ok(at)
}

/// Names of connections by id, for responses that show which connection a rotation uses.
pub async fn names(
    conn: &mut PgConnection,
    ids: &[ConnectionId],
) -> Result<std::collections::HashMap<ConnectionId, String>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|c| c.0).collect();
    let rows: Vec<(ConnectionId, String)> =
        sqlx::query_as("select id, name from app_connections where id = any($1)")
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::ScopeSummary;

    #[test]
    fn a_scope_check_reads_as_capability_names_in_name_order() {
        let stored = r#"{"readUsers": ["read:users"], "validate": [], "listClients": [],
            "tokenVault": ["read:users", "update:users"]}"#;
        let summary: ScopeSummary = serde_json::from_str(stored).expect("summary");
        assert_eq!(summary.usable, ["listClients", "validate"]);
        assert_eq!(summary.lacking, ["readUsers", "tokenVault"]);
        assert_eq!(
            serde_json::from_str::<ScopeSummary>("{}").expect("empty"),
            ScopeSummary::default()
        );
        assert!(serde_json::from_str::<ScopeSummary>(r#"{"validate": "none"}"#).is_err());
    }
}

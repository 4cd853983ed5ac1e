//! `rotation_secrets`: the project secrets a rotation owns (Infisical's `secretsMapping`) — an
//! environment, a folder and one key per role (the roles depend on the rotation's type). The worker writes the new credentials into them
//! when an attempt finishes; while a rotation maps a secret, hand edits and deletes are refused,
//! as is deleting the folder or environment that holds it. Names only here: the values are
//! ordinary secret versions (`store::secrets`).

use std::collections::{BTreeMap, HashMap};

use sqlx::PgConnection;

use crate::{EnvironmentId, FolderId, Result, RotationId};

/// The role of the secret that holds the rotated client's id.
pub const ROLE_CLIENT_ID: &str = "clientId";
/// The role of the secret that holds the new client secret (`auth0-client-secret`).
pub const ROLE_CLIENT_SECRET: &str = "clientSecret";
/// The role of the secret that holds the new private key, PEM (`auth0-private-key-jwt`).
pub const ROLE_PRIVATE_KEY: &str = "privateKey";
/// The role of the secret that holds the new key's `kid` (`auth0-private-key-jwt`).
pub const ROLE_KEY_ID: &str = "keyId";

/// A rotation's mapping: where its secrets live and their names.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Mapping {
    pub rotation_id: RotationId,
    pub environment_id: EnvironmentId,
    pub environment_slug: String,
    pub environment_name: String,
    pub folder_id: FolderId,
    pub folder_path: String,
    /// Role → secret name: `clientId` and `clientSecret` for a client-secret rotation,
    /// `clientId`, `privateKey` and `keyId` for a key rotation.
    #[sqlx(json)]
    pub names: BTreeMap<String, String>,
}

impl Mapping {
    /// The secret that holds `role`, if the mapping has one.
    pub fn key(&self, role: &str) -> Option<&str> {
        self.names.get(role).map(String::as_str)
    }

    /// The mapped (role, key) pairs, by role.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names.iter().map(|(r, k)| (r.as_str(), k.as_str()))
    }
}

/// One row per rotation: the roles folded into one JSON object.
const SELECT: &str = "select m.rotation_id, m.environment_id, e.slug as environment_slug, \
     e.name as environment_name, m.folder_id, f.path as folder_path, \
     jsonb_object_agg(m.role, m.key) as names \
     from rotation_secrets m \
     join environments e on e.id = m.environment_id \
     join secret_folders f on f.id = m.folder_id";

const GROUP: &str = "group by m.rotation_id, m.environment_id, e.slug, e.name, m.folder_id, f.path";

/// A rotation's mapping, if it has one.
pub async fn get(conn: &mut PgConnection, rotation_id: RotationId) -> Result<Option<Mapping>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where m.rotation_id = $1 {GROUP}"
    )))
    .bind(rotation_id)
    .fetch_optional(conn)
    .await?)
}

/// The mappings of several rotations (a list page), by rotation.
pub async fn for_rotations(
    conn: &mut PgConnection,
    ids: &[RotationId],
) -> Result<HashMap<RotationId, Mapping>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<Mapping> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where m.rotation_id = any($1) {GROUP}"
    )))
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|m| (m.rotation_id, m)).collect())
}

/// What a rotation's mapping is to become.
#[derive(Debug)]
pub struct NewMapping<'a> {
    pub environment_id: EnvironmentId,
    pub folder_id: FolderId,
    /// (role, secret name) pairs; roles are limited by `rotation_secrets_role_check`.
    pub names: &'a [(&'a str, &'a str)],
}

/// Replaces a rotation's mapping (`None`: removes it; the secrets stay as ordinary secrets).
/// Errors: `Duplicate { constraint: "rotation_secrets_folder_key_key" }` when another rotation
/// owns a name (or two roles name one secret).
pub async fn replace(
    conn: &mut PgConnection,
    rotation_id: RotationId,
    mapping: Option<&NewMapping<'_>>,
) -> Result<()> {
    sqlx::query("delete from rotation_secrets where rotation_id = $1")
        .bind(rotation_id)
        .execute(&mut *conn)
        .await?;
    if let Some(m) = mapping {
        let roles: Vec<&str> = m.names.iter().map(|(role, _)| *role).collect();
        let keys: Vec<&str> = m.names.iter().map(|(_, key)| *key).collect();
        sqlx::query(
            "insert into rotation_secrets (rotation_id, environment_id, folder_id, role, key) \
             select $1, $2, $3, n.role, n.key from unnest($4::text[], $5::text[]) as n(role, key)",
        )
        .bind(rotation_id)
        .bind(m.environment_id)
        .bind(m.folder_id)
        .bind(roles)
        .bind(keys)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Why a name is not free for a rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Another rotation (its name) maps this secret.
    ByRotation { key: String, rotation: String },
    /// An ordinary secret with this name exists in the folder.
    BySecret { key: String },
}

/// The first of `keys` in the folder that is not free for `rotation_id`: owned by another
/// rotation, or an existing secret this rotation does not own. `None`: every name is free or
/// already this rotation's.
pub async fn taken(
    conn: &mut PgConnection,
    folder_id: FolderId,
    keys: &[&str],
    rotation_id: RotationId,
) -> Result<Option<Taken>> {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let owner: Option<(String, String)> = sqlx::query_as(
        "select m.key, r.name from rotation_secrets m \
         join secret_rotations r on r.id = m.rotation_id \
         where m.folder_id = $1 and m.key = any($2) and m.rotation_id <> $3 \
         order by m.key limit 1",
    )
    .bind(folder_id)
    .bind(&keys)
    .bind(rotation_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((key, rotation)) = owner {
        return Ok(Some(Taken::ByRotation { key, rotation }));
    }
    let secret: Option<String> = sqlx::query_scalar(
        "select s.key from secrets s where s.folder_id = $1 and s.key = any($2) \
         and not exists (select 1 from rotation_secrets m where m.folder_id = s.folder_id \
                         and m.key = s.key and m.rotation_id = $3) \
         order by s.key limit 1",
    )
    .bind(folder_id)
    .bind(&keys)
    .bind(rotation_id)
    .fetch_optional(conn)
    .await?;
    Ok(secret.map(|key| Taken::BySecret { key }))
}

/// The transaction-scoped lock that orders "is this name free" checks in one folder: a rotation
/// claiming names ([`lock_folder`] then [`taken`]) and a hand write of a secret ([`owner`]) cannot
/// both see the name free and both go ahead. Keyed by folder, so other folders never wait.
const FOLDER_LOCK: &str =
    "pg_advisory_xact_lock(hashtext('keyhold.rotation_secrets'), hashtext($1::text))";

/// Takes the folder's name lock until the caller's transaction ends; call before [`taken`].
pub async fn lock_folder(conn: &mut PgConnection, folder_id: FolderId) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("select {FOLDER_LOCK}")))
        .bind(folder_id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// The rotation that owns the secret `key` of a folder: its id and name. Takes the folder's name
/// lock in the same statement (held to the end of the caller's transaction), so a secret written
/// by hand after this answered `None` cannot collide with a mapping made meanwhile.
pub async fn owner(
    conn: &mut PgConnection,
    folder_id: FolderId,
    key: &str,
) -> Result<Option<(RotationId, String)>> {
    // The lock is the left side of a left join: it runs once whether or not a mapping matches.
    let row: (Option<RotationId>, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select r.id, r.name from (select {FOLDER_LOCK}) l \
         left join rotation_secrets m on m.folder_id = $1 and m.key = $2 \
         left join secret_rotations r on r.id = m.rotation_id"
    )))
    .bind(folder_id.0)
    .bind(key)
    .fetch_one(conn)
    .await?;
    Ok(row.0.zip(row.1))
}

/// A rotation that maps secrets into the environment, or (with `path`) into the folder at that
/// path or below it: its name, for the 409 that refuses deleting them.
pub async fn owner_within(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    path: Option<&str>,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "select r.name from rotation_secrets m \
         join secret_rotations r on r.id = m.rotation_id \
         join secret_folders f on f.id = m.folder_id \
         where m.environment_id = $1 \
           and ($2::text is null or f.path = $2 or starts_with(f.path, $2 || '/')) \
         order by r.name limit 1",
    )
    .bind(environment_id)
    .bind(path)
    .fetch_optional(conn)
    .await?)
}

/// A secret a rotation maps, as it stands (for `deleteSecrets`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MappedSecret {
    pub id: crate::SecretId,
    pub key: String,
    pub version: i64,
}

/// The existing secrets a rotation maps (a mapped name may not have been written yet), by key.
/// `deleteSecrets` deletes each through `store::secrets::delete`, so each reports its event.
pub async fn mapped_secrets(
    conn: &mut PgConnection,
    rotation_id: RotationId,
) -> Result<Vec<MappedSecret>> {
    Ok(sqlx::query_as(
        "select s.id, s.key, s.version from secrets s \
         join rotation_secrets m on s.folder_id = m.folder_id and s.key = m.key \
         where m.rotation_id = $1 order by s.key",
    )
    .bind(rotation_id)
    .fetch_all(conn)
    .await?)
}

//! Writing a finished rotation's credentials into the project secrets it maps (Infisical's
//! `secretsMapping`): the client id and the new client secret (or private key and `kid`) each
//! become a new version of their secret (version 1 when the secret does not exist yet), sealed for that row and version like
//! every secret value (`aad::secret_value`), its `secret.*` event naming the rotation as writer.
//! Runs on the caller's transaction — the worker's
//! finish — so readers see the new secret exactly when the rotation records its success, and a
//! refused write undoes the finish.

use crypto::SecretString;
use sqlx::PgConnection;
use store::rotations::Rotation;
use store::rotations::mapping::Mapping;
use store::secrets::{self, NewSecret, NextVersion, Secret, Writer};
use store::{SecretId, SecretVersionId};

use crate::Broker;
use crate::aad::SecretPlace;
use crate::error::Result;

/// One secret the rotation wrote: what its audit row and the rotation's success event name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenSecret {
    pub id: SecretId,
    pub key: String,
    /// `clientId`, `clientSecret`, `privateKey` or `keyId`.
    pub role: &'static str,
    pub version: i64,
    /// `true` when this write made the secret (version 1).
    pub created: bool,
}

/// Writes a finished attempt's credentials into the secrets of `mapping`, as a new version of
/// each, on `conn` (the finishing transaction): `values` are (role, value) pairs — the client id
/// and secret of a client-secret rotation, or the client id, private key and `kid` of a key
/// rotation; a role the mapping does not name is not written. Any refusal is returned before
/// the caller commits, so nothing is half-written.
pub async fn write_rotation_secrets(
    broker: &Broker,
    conn: &mut PgConnection,
    rotation: &Rotation,
    mapping: &Mapping,
    values: &[(&'static str, &SecretString)],
) -> Result<Vec<WrittenSecret>> {
    let mut written = Vec::with_capacity(values.len());
    for (role, value) in values {
        let Some(key) = mapping.key(role) else {
            continue;
        };
        let secret = write_one(broker, conn, rotation, mapping, key, value).await?;
        written.push(WrittenSecret {
            created: secret.version == 1,
            id: secret.id,
            key: secret.key,
            role,
            version: secret.version,
        });
    }
    Ok(written)
}

/// A new version of the secret `key` of the mapping's folder, or the secret itself at version 1.
async fn write_one(
    broker: &Broker,
    conn: &mut PgConnection,
    rotation: &Rotation,
    mapping: &Mapping,
    key: &str,
    value: &SecretString,
) -> Result<Secret> {
    let version_id = SecretVersionId::new();
    match secrets::get(conn, mapping.folder_id, key, None).await {
        Ok(current) => {
            let place = SecretPlace {
                project_id: current.project_id,
                environment_id: current.environment_id,
                secret_id: current.id,
                version: current.latest_version + 1,
            };
            let sealed = broker.seal_secret_value(version_id, place, value)?;
            // Fenced on the version just read: a concurrent writer makes this fail (and the
            // finish roll back) rather than silently replace a version.
            let next = NextVersion {
                secret_id: current.id,
                expected: current.latest_version,
                key,
                comment: &current.comment,
                version_id,
                value_sealed: &sealed,
                by: Writer::Rotation(rotation.id.0),
            };
            Ok(secrets::add_version(conn, &next).await?)
        }
        Err(store::Error::NotFound) => {
            let id = SecretId::new();
            let place = SecretPlace {
                project_id: rotation.project_id,
                environment_id: mapping.environment_id,
                secret_id: id,
                version: 1,
            };
            let sealed = broker.seal_secret_value(version_id, place, value)?;
            let new = NewSecret {
                id,
                project_id: rotation.project_id,
                environment_id: mapping.environment_id,
                folder_id: mapping.folder_id,
                key,
                comment: "",
                version_id,
                value_sealed: &sealed,
                by: Writer::Rotation(rotation.id.0),
            };
            Ok(secrets::create(conn, &new).await?)
        }
        Err(other) => Err(other.into()),
    }
}

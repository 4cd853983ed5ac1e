//! Wire shapes of rotation definitions under `/api/v2/secret-rotations`, following Infisical's
//! `auth0-client-secret` rotation; `auth0-private-key-jwt` has the same shape with its own
//! `parameters` and `secretsMapping` (attempts are shaped in `runs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use store::rotations::detailed::Detailed;
use store::rotations::mapping::{
    Mapping, ROLE_CLIENT_ID, ROLE_CLIENT_SECRET, ROLE_KEY_ID, ROLE_PRIVATE_KEY,
};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateAt {
    #[serde(deserialize_with = "crate::extract::integer")]
    pub hours: i16,
    #[serde(deserialize_with = "crate::extract::integer")]
    pub minutes: i16,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameters {
    pub client_id: String,
}

/// `auth0-private-key-jwt`'s parameters: the application and how long its old and new keys are
/// both enabled. `overlapSeconds` is read as any integer so that one out of range is refused
/// naming the range, not as unreadable.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyParameters {
    pub client_id: String,
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    pub overlap_seconds: Option<i64>,
}

/// A PATCH of `auth0-private-key-jwt`'s parameters: either may be left out.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyParametersPatch {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    pub overlap_seconds: Option<i64>,
}

/// What the handlers need of a type's `parameters`.
pub trait TypeParameters {
    fn client_id(&self) -> Option<&str>;
    fn overlap_seconds(&self) -> Option<i64>;
}

impl TypeParameters for Parameters {
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
    fn overlap_seconds(&self) -> Option<i64> {
        None
    }
}

impl TypeParameters for KeyParameters {
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
    fn overlap_seconds(&self) -> Option<i64> {
        self.overlap_seconds
    }
}

impl TypeParameters for KeyParametersPatch {
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    fn overlap_seconds(&self) -> Option<i64> {
        self.overlap_seconds
    }
}

/// One secret of a `secretsMapping`: its role (`rotation_secrets.role`), the field that names it
/// (for error messages) and its name.
#[derive(Debug, Clone)]
pub struct Named {
    pub role: &'static str,
    pub field: &'static str,
    pub key: String,
}

/// A type's `secretsMapping`: the secrets it names, and the same read back from a stored mapping.
pub trait MappingNames: Sized {
    fn names(&self) -> Vec<Named>;
    /// The stored mapping in this type's shape; `None` if it lacks one of the type's roles.
    fn from_stored(stored: &Mapping) -> Option<Self>;
}

/// Infisical's `secretsMapping`: the names of the project secrets a rotation writes into.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsMappingIn {
    pub client_id: String,
    pub client_secret: String,
}

impl MappingNames for SecretsMappingIn {
    fn names(&self) -> Vec<Named> {
        vec![
            Named {
                role: ROLE_CLIENT_ID,
                field: "secretsMapping.clientId",
                key: self.client_id.clone(),
            },
            Named {
                role: ROLE_CLIENT_SECRET,
                field: "secretsMapping.clientSecret",
                key: self.client_secret.clone(),
            },
        ]
    }
    fn from_stored(stored: &Mapping) -> Option<Self> {
        Some(SecretsMappingIn {
            client_id: stored.key(ROLE_CLIENT_ID)?.to_owned(),
            client_secret: stored.key(ROLE_CLIENT_SECRET)?.to_owned(),
        })
    }
}

/// `auth0-private-key-jwt`'s `secretsMapping`: the client id, the new private key (PEM) and its
/// `kid`, which an app needs to sign its client assertions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySecretsMappingIn {
    pub client_id: String,
    pub private_key: String,
    pub key_id: String,
}

impl MappingNames for KeySecretsMappingIn {
    fn names(&self) -> Vec<Named> {
        vec![
            Named {
                role: ROLE_CLIENT_ID,
                field: "secretsMapping.clientId",
                key: self.client_id.clone(),
            },
            Named {
                role: ROLE_PRIVATE_KEY,
                field: "secretsMapping.privateKey",
                key: self.private_key.clone(),
            },
            Named {
                role: ROLE_KEY_ID,
                field: "secretsMapping.keyId",
                key: self.key_id.clone(),
            },
        ]
    }
    fn from_stored(stored: &Mapping) -> Option<Self> {
        Some(KeySecretsMappingIn {
            client_id: stored.key(ROLE_CLIENT_ID)?.to_owned(),
            private_key: stored.key(ROLE_PRIVATE_KEY)?.to_owned(),
            key_id: stored.key(ROLE_KEY_ID)?.to_owned(),
        })
    }
}

/// `deserialize_with` for a PATCH field that may be left out (`None`), cleared with `null`
/// (`Some(None)`) or set to a JSON object.
fn nullable_object<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    crate::extract::optional_object(d).map(Some)
}

/// A new rotation: `P` and `M` are its type's `parameters` and `secretsMapping`.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de>, M: Deserialize<'de>")
)]
pub struct RotationIn<P, M> {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub project_id: String,
    pub connection_id: String,
    #[serde(default)]
    pub is_auto_rotation_enabled: Option<bool>,
    #[serde(deserialize_with = "crate::extract::integer")]
    pub rotation_interval: i32,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub rotate_at_utc: Option<RotateAt>,
    #[serde(deserialize_with = "crate::extract::object")]
    pub parameters: P,
    /// The slug of the environment that holds the mapped secrets (with `secretsMapping`).
    #[serde(default)]
    pub environment: Option<String>,
    /// The folder of the mapped secrets; `/` when left out.
    #[serde(default)]
    pub secret_path: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub secrets_mapping: Option<M>,
}

/// A change to a rotation: `P` and `M` are its type's `parameters` and `secretsMapping`.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de>, M: Deserialize<'de>")
)]
pub struct RotationPatch<P, M> {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub is_auto_rotation_enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    pub rotation_interval: Option<i32>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub rotate_at_utc: Option<RotateAt>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub parameters: Option<P>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub secret_path: Option<String>,
    /// `null` removes the mapping (the secrets stay, as ordinary secrets).
    #[serde(default, deserialize_with = "nullable_object")]
    pub secrets_mapping: Option<Option<M>>,
}

/// `auth0-client-secret`'s bodies.
pub type ClientSecretIn = RotationIn<Parameters, SecretsMappingIn>;
pub type ClientSecretPatch = RotationPatch<Parameters, SecretsMappingIn>;
/// `auth0-private-key-jwt`'s bodies.
pub type KeyRotationIn = RotationIn<KeyParameters, KeySecretsMappingIn>;
pub type KeyRotationPatch = RotationPatch<KeyParametersPatch, KeySecretsMappingIn>;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRef {
    pub app: &'static str,
    pub name: String,
    pub id: Uuid,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateAtOut {
    pub hours: i16,
    pub minutes: i16,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParametersOut {
    pub client_id: String,
    /// `auth0-private-key-jwt` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentRef {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderRef {
    pub id: Uuid,
    pub path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationOut {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub parameters: ParametersOut,
    pub is_auto_rotation_enabled: bool,
    pub active_index: i16,
    pub rotation_interval: i32,
    pub rotate_at_utc: RotateAtOut,
    /// `pending` until the first attempt ends, then `success` or `failed`.
    pub rotation_status: String,
    /// An attempt is running or waiting to retry, or one is due now.
    pub is_rotating: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_rotation_attempted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_rotated_at: Option<OffsetDateTime>,
    pub last_rotation_job_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_rotation_at: Option<OffsetDateTime>,
    pub last_rotation_message: Option<String>,
    pub is_last_rotation_manual: bool,
    /// Key rotations while the old and new keys are both enabled: when the old one is removed.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub overlap_until: Option<OffsetDateTime>,
    pub connection_id: Uuid,
    pub connection: ConnectionRef,
    pub project_id: Uuid,
    /// The secrets this rotation writes into, where (all null without a mapping).
    /// Role → secret name, in the type's shape (`clientId`/`clientSecret`, or
    /// `clientId`/`privateKey`/`keyId`).
    pub secrets_mapping: Option<BTreeMap<String, String>>,
    pub environment: Option<EnvironmentRef>,
    pub folder_id: Option<Uuid>,
    pub folder: Option<FolderRef>,
    pub secret_path: Option<String>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RotationOut {
    pub fn new(detailed: Detailed, now: OffsetDateTime) -> RotationOut {
        let Detailed {
            rotation: r,
            connection_name,
            mapping,
            overlap_until,
        } = detailed;
        RotationOut {
            overlap_until,
            secrets_mapping: mapping.as_ref().map(|m| m.names.clone()),
            environment: mapping.as_ref().map(|m| EnvironmentRef {
                id: m.environment_id.0,
                name: m.environment_name.clone(),
                slug: m.environment_slug.clone(),
            }),
            folder_id: mapping.as_ref().map(|m| m.folder_id.0),
            folder: mapping.as_ref().map(|m| FolderRef {
                id: m.folder_id.0,
                path: m.folder_path.clone(),
            }),
            secret_path: mapping.map(|m| m.folder_path),
            // Running, waiting to retry, or due now (rotate-now, a new rotation, an overdue window).
            is_rotating: r.is_in_progress(now) || r.due_at.is_some_and(|due| due <= now),
            id: r.id.0,
            name: r.name,
            description: r.description,
            kind: r.kind,
            parameters: ParametersOut {
                client_id: r.client_id,
                overlap_seconds: r.overlap_seconds,
            },
            is_auto_rotation_enabled: r.is_auto_rotation_enabled,
            active_index: r.active_index,
            rotation_interval: r.rotation_interval_days,
            rotate_at_utc: RotateAtOut {
                hours: r.rotate_at_hours,
                minutes: r.rotate_at_minutes,
            },
            rotation_status: r.status,
            last_rotation_attempted_at: r.last_rotation_attempted_at,
            last_rotated_at: r.last_rotated_at,
            last_rotation_job_id: r.current_attempt_id.map(|a| a.0),
            next_rotation_at: r.next_rotation_at,
            last_rotation_message: r.last_rotation_message,
            is_last_rotation_manual: r.is_last_rotation_manual,
            connection_id: r.connection_id.0,
            connection: ConnectionRef {
                app: "auth0",
                name: connection_name,
                id: r.connection_id.0,
            },
            project_id: r.project_id.0,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub search: Option<String>,
    /// Only rotations in this status: `pending`, `success` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByNameQuery {
    pub project_id: String,
    /// Infisical's clients name where the rotation writes its secrets; when given, they must match.
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub secret_path: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    pub revoke_generated_credentials: Option<bool>,
    /// Also delete the secrets the rotation maps (otherwise they stay as ordinary secrets).
    #[serde(default)]
    pub delete_secrets: Option<bool>,
}

/// `?reason=` on a reveal: why the secret is looked at, kept with the audit row.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevealQuery {
    #[serde(default)]
    pub reason: Option<String>,
    /// Only the active secret (the previous one stays on the server).
    #[serde(default)]
    pub active_only: Option<bool>,
}

/// The longest reveal reason kept, in characters.
pub const REVEAL_REASON_MAX: usize = 200;

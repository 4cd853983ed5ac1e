//! Wire shapes of rotation definitions under `/api/v2/secret-rotations`, following Infisical's
//! `auth0-client-secret` rotation (attempts are shaped in `runs`).

use serde::{Deserialize, Serialize};
use store::rotations::Rotation;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateAt {
    pub hours: i16,
    pub minutes: i16,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameters {
    pub client_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationIn {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub project_id: String,
    pub connection_id: String,
    #[serde(default)]
    pub is_auto_rotation_enabled: Option<bool>,
    pub rotation_interval: i32,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub rotate_at_utc: Option<RotateAt>,
    #[serde(deserialize_with = "crate::extract::object")]
    pub parameters: Parameters,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub is_auto_rotation_enabled: Option<bool>,
    #[serde(default)]
    pub rotation_interval: Option<i32>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub rotate_at_utc: Option<RotateAt>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub parameters: Option<Parameters>,
}

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
    pub connection_id: Uuid,
    pub connection: ConnectionRef,
    pub project_id: Uuid,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RotationOut {
    pub fn new(r: Rotation, connection_name: String, now: OffsetDateTime) -> RotationOut {
        RotationOut {
            // Running, waiting to retry, or due now (rotate-now, a new rotation, an overdue window).
            is_rotating: r.is_in_progress(now) || r.due_at.is_some_and(|due| due <= now),
            id: r.id.0,
            name: r.name,
            description: r.description,
            kind: r.kind,
            parameters: ParametersOut {
                client_id: r.client_id,
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
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByNameQuery {
    pub project_id: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    pub revoke_generated_credentials: Option<bool>,
    /// Accepted for Infisical compatibility: Keyhold writes no secrets elsewhere, so there are none
    /// to delete; only `false` (or absent) is meaningful.
    #[serde(default)]
    pub delete_secrets: Option<bool>,
}

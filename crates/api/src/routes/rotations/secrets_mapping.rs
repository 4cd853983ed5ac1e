//! A rotation's `environment`, `secretPath` and `secretsMapping` (Infisical's fields): the
//! project secrets the worker writes the new credentials into when an attempt finishes. Checked
//! on create and update: names follow the secrets' name rules, the environment and folder exist
//! in the rotation's project (404 naming the field), and each name is free or already this
//! rotation's (409). Optional: a rotation without a mapping writes no secrets.

use sqlx::PgConnection;
use store::folders::Folder;
use store::rotations::mapping::{self, Mapping, NewMapping, Taken};
use store::{ProjectId, RotationId};

use super::dto::Named;
use crate::AppState;
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::secrets::{folder_at, validate};

/// A mapping as asked for, its syntax checked.
#[derive(Debug)]
pub(super) struct Requested {
    pub environment: String,
    pub path: String,
    pub names: Vec<Named>,
}

/// The syntax of a requested mapping; `None` with `errors` untouched when nothing was asked.
pub(super) fn requested(
    environment: Option<&str>,
    secret_path: Option<&str>,
    names: Option<Vec<Named>>,
    errors: &mut Vec<FieldError>,
) -> Option<Requested> {
    let Some(names) = names else {
        for (field, present) in [
            ("environment", environment.is_some()),
            ("secretPath", secret_path.is_some()),
        ] {
            if present {
                errors.push(FieldError::new(
                    field,
                    "is only accepted with secretsMapping (the secrets the rotation writes)",
                ));
            }
        }
        return None;
    };
    let environment = match environment {
        Some(slug) => validate::slug("environment", slug, errors).then(|| slug.to_owned()),
        None => {
            errors.push(FieldError::new(
                "environment",
                "is required with secretsMapping",
            ));
            None
        }
    };
    let path = validate::path("secretPath", secret_path, errors);
    let mut valid = true;
    for (i, named) in names.iter().enumerate() {
        if !validate::secret_name(named.field, &named.key, errors) {
            valid = false;
        } else if let Some(earlier) = names[..i].iter().find(|n| n.key == named.key) {
            errors.push(FieldError::new(
                named.field,
                format!("must name another secret than {}", earlier.field),
            ));
            valid = false;
        }
    }
    valid.then_some(())?;
    Some(Requested {
        environment: environment?,
        path: path?,
        names,
    })
}

/// A requested mapping with its environment and folder found in the project.
#[derive(Debug)]
pub(super) struct Resolved {
    /// With its environment's id and slug.
    pub folder: Folder,
    pub names: Vec<Named>,
}

impl Resolved {
    /// What the audit row of the create or update records (names only).
    pub fn summary(&self) -> serde_json::Value {
        let names: serde_json::Map<String, serde_json::Value> = self
            .names
            .iter()
            .map(|n| (n.role.to_owned(), n.key.clone().into()))
            .collect();
        serde_json::json!({
            "environment": self.folder.environment_slug,
            "secretPath": self.folder.path,
            "secretsMapping": names,
        })
    }
}

/// Finds the environment and folder in the project: 404 naming `environment` or `secretPath`.
pub(super) async fn resolve(
    state: &AppState,
    project_id: ProjectId,
    requested: Requested,
) -> ApiResult<Resolved> {
    let folder = folder_at(
        state,
        project_id,
        &requested.environment,
        &requested.path,
        "secretPath",
    )
    .await?;
    Ok(Resolved {
        folder,
        names: requested.names,
    })
}

/// Stores the rotation's mapping (`None` removes it) once every name is free or already this
/// rotation's; call inside the transaction that writes the rotation.
pub(super) async fn save(
    conn: &mut PgConnection,
    rotation_id: RotationId,
    resolved: Option<&Resolved>,
) -> ApiResult<()> {
    if let Some(r) = resolved {
        let keys: Vec<&str> = r.names.iter().map(|n| n.key.as_str()).collect();
        mapping::lock_folder(conn, r.folder.id).await?;
        if let Some(taken) = mapping::taken(conn, r.folder.id, &keys, rotation_id).await? {
            return Err(refusal(r, &taken));
        }
    }
    let pairs: Vec<(&str, &str)> = resolved
        .map(|r| r.names.iter().map(|n| (n.role, n.key.as_str())).collect())
        .unwrap_or_default();
    let new = resolved.map(|r| NewMapping {
        environment_id: r.folder.environment_id,
        folder_id: r.folder.id,
        names: &pairs,
    });
    mapping::replace(conn, rotation_id, new.as_ref())
        .await
        .map_err(|err| match err {
            // Another rotation took a name between the check and the insert.
            store::Error::Duplicate { .. } => ApiError::Conflict {
                detail: "secretsMapping names a secret another secret rotation writes".to_owned(),
                field: Some("secretsMapping"),
            },
            // The environment or folder was deleted meanwhile.
            store::Error::MissingReference { .. } => ApiError::NotFound {
                what: "folder",
                field: Some("secretPath"),
            },
            other => other.into(),
        })
}

/// The 409 for a name that is not free: names the field and the owner, never the name itself.
fn refusal(resolved: &Resolved, taken: &Taken) -> ApiError {
    let (key, detail) = match taken {
        Taken::ByRotation { key, rotation } => (
            key,
            format!(
                "names a secret that secret rotation \"{rotation}\" already writes; choose another name"
            ),
        ),
        Taken::BySecret { key } => (
            key,
            "names a secret that already exists in this folder; delete it or choose another name"
                .to_owned(),
        ),
    };
    let field = resolved
        .names
        .iter()
        .find(|n| n.key == *key)
        .map_or("secretsMapping", |n| n.field);
    ApiError::Conflict {
        detail: format!("{field} {detail}"),
        field: Some(field),
    }
}

/// A rotation's mapping as stored (for answers and for update).
pub(super) async fn load(state: &AppState, rotation_id: RotationId) -> ApiResult<Option<Mapping>> {
    let mut conn = state.db.acquire().await?;
    Ok(mapping::get(&mut conn, rotation_id).await?)
}

//! `/api/v3/secrets/raw[/{secretName}]`: Infisical's secrets routes, with the query and body
//! fields its SDKs send and the answers they parse. Viewers list and read values; members
//! create, update (a new version each time, `newSecretName` renames) and delete. Every read
//! request writes one audit row naming the secrets and versions read; every write one row.
//! Values never reach a log, an audit row or an error.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use broker::aad::SecretPlace;
use crypto::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::folders::Folder;
use store::secrets::{self as db, Secret};
use store::{FolderId, ProjectId, SecretId, SecretVersionId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, ProjectAccess, Role};
use crate::extract::{ValidJson, ValidQuery, is_json, parse_json};
use crate::problem::{ApiError, ApiResult, FieldError};

use super::{folder_at, managed_by, project, references, validate};

/// What Infisical answers in `secretValue` when the value is not shown.
const HIDDEN: &str = "<hidden-by-infisical>";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretOut {
    id: Uuid,
    #[serde(rename = "_id")]
    legacy_id: Uuid,
    workspace: Uuid,
    environment: String,
    version: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    secret_key: String,
    secret_value: String,
    secret_value_hidden: bool,
    secret_comment: String,
    secret_path: String,
    skip_multiline_encoding: bool,
    secret_reminder_note: Option<String>,
    secret_reminder_repeat_days: Option<i64>,
    tags: Vec<Value>,
    secret_metadata: Vec<Value>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

/// `{secrets, imports}`, as Infisical answers a list: serialised straight from the rows, with no
/// JSON tree built first.
#[derive(Debug, Serialize)]
pub struct SecretsOut {
    secrets: Vec<SecretOut>,
    imports: [Value; 0],
}

/// `{secret}`, as Infisical answers for one secret.
#[derive(Debug, Serialize)]
pub struct OneSecretOut {
    secret: SecretOut,
}

fn one(secret: Secret, value: Option<&SecretString>) -> Json<OneSecretOut> {
    Json(OneSecretOut {
        secret: out(secret, value),
    })
}

fn out(secret: Secret, value: Option<&SecretString>) -> SecretOut {
    SecretOut {
        id: secret.id.0,
        legacy_id: secret.id.0,
        workspace: secret.project_id.0,
        environment: secret.environment_slug,
        version: secret.version,
        kind: "shared",
        secret_key: secret.key,
        secret_value: value.map_or_else(|| HIDDEN.to_owned(), |v| v.expose_secret().to_owned()),
        secret_value_hidden: value.is_none(),
        secret_comment: secret.comment,
        secret_path: secret.folder_path,
        skip_multiline_encoding: false,
        secret_reminder_note: None,
        secret_reminder_repeat_days: None,
        tags: Vec::new(),
        secret_metadata: Vec::new(),
        created_at: secret.created_at,
        updated_at: secret.updated_at,
    }
}

/// The query of list and get, as Infisical's SDKs send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    #[serde(default, rename = "workspaceId")]
    workspace_id: Option<String>,
    #[serde(default, rename = "workspaceSlug")]
    workspace_slug: Option<String>,
    #[serde(default, rename = "projectSlug")]
    project_slug: Option<String>,
    environment: String,
    #[serde(default, rename = "secretPath")]
    secret_path: Option<String>,
    #[serde(default, rename = "viewSecretValue")]
    view_secret_value: Option<String>,
    #[serde(default, rename = "expandSecretReferences")]
    expand_secret_references: Option<String>,
    #[serde(default)]
    recursive: Option<String>,
    #[serde(default)]
    include_imports: Option<String>,
    /// What Infisical's Node SDK sends for `include_imports` when reading one secret.
    #[serde(default, rename = "includeImports")]
    include_imports_camel: Option<String>,
    #[serde(default, rename = "tagSlugs")]
    tag_slugs: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// Infisical's Node SDK repeats the path's secret name in the query of a get.
    #[serde(default, rename = "secretName")]
    secret_name: Option<String>,
}

/// The body of create, update and delete, as Infisical's SDKs send it (absent fields as null).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WriteBody {
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    project_slug: Option<String>,
    #[serde(default)]
    workspace_slug: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    secret_path: Option<String>,
    #[serde(default)]
    secret_value: Option<SecretString>,
    #[serde(default)]
    secret_comment: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    new_secret_name: Option<String>,
    #[serde(default)]
    skip_multiline_encoding: Option<Value>,
    #[serde(default)]
    tag_ids: Option<Value>,
    #[serde(default)]
    secret_reminder_repeat_days: Option<Value>,
    #[serde(default)]
    secret_reminder_note: Option<Value>,
    #[serde(default)]
    secret_reminder_recipients: Option<Value>,
    #[serde(default)]
    secret_metadata: Option<Value>,
    /// Infisical's Node SDK sends its `metadata` option under this name.
    #[serde(default)]
    metadata: Option<Value>,
}

/// Where a request points: project, environment and folder, the caller's access checked.
struct Place {
    project_id: ProjectId,
    /// With its environment's id and slug.
    folder: Folder,
    access: ProjectAccess,
}

/// `listing`: a list may also name a folder on the way to a narrowed membership's folder (it then
/// shows only what lies inside the scope); every other request must name one inside it.
async fn place(
    state: &AppState,
    caller: &Caller,
    project_id: ProjectId,
    env: &str,
    path: &str,
    min: Role,
    listing: bool,
) -> ApiResult<Place> {
    let access = project(state, caller, project_id, min, "workspaceId").await?;
    if listing {
        // The list shows only what lies inside the scope.
        access.require_may_list(env, path)?;
    } else {
        access.require_covers(env, path)?;
    }
    let folder = folder_at(state, project_id, env, path, "secretPath").await?;
    Ok(Place {
        project_id,
        folder,
        access,
    })
}

fn secret_not_found() -> ApiError {
    ApiError::NotFound {
        what: "secret",
        field: Some("secretName"),
    }
}

fn binding(secret: &Secret) -> SecretPlace {
    SecretPlace {
        project_id: secret.project_id,
        environment_id: secret.environment_id,
        secret_id: secret.id,
        version: secret.version,
    }
}

pub(super) fn open(state: &AppState, secret: &Secret) -> ApiResult<SecretString> {
    state
        .broker
        .open_secret_value(secret.version_id, binding(secret), &secret.value_sealed)
        .map_err(ApiError::internal)
}

/// The path segment, or 404 for one no write could have made.
fn name_from_path(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let Ok(Path(name)) = path else {
        return Err(secret_not_found());
    };
    if !validate::secret_name("secretName", &name, &mut Vec::new()) {
        return Err(secret_not_found());
    }
    Ok(name)
}

struct ReadOptions {
    project_id: ProjectId,
    path: String,
    view: bool,
    expand: bool,
    recursive: bool,
    version: Option<i64>,
}

fn read_options(query: &ReadQuery, errors: &mut Vec<FieldError>) -> Option<ReadOptions> {
    let project_id = validate::project_id(
        "workspaceId",
        query.workspace_id.as_deref(),
        &[
            ("workspaceSlug", query.workspace_slug.as_deref()),
            ("projectSlug", query.project_slug.as_deref()),
        ],
        errors,
    );
    let path = validate::path("secretPath", query.secret_path.as_deref(), errors);
    let view = validate::flag(
        "viewSecretValue",
        query.view_secret_value.as_deref(),
        true,
        errors,
    );
    let expand = validate::flag(
        "expandSecretReferences",
        query.expand_secret_references.as_deref(),
        false,
        errors,
    );
    let recursive = validate::flag("recursive", query.recursive.as_deref(), false, errors);
    // Keyhold has no secret imports, so there are none to include: `imports` is empty.
    validate::flag(
        "include_imports",
        query.include_imports.as_deref(),
        false,
        errors,
    );
    validate::flag(
        "includeImports",
        query.include_imports_camel.as_deref(),
        false,
        errors,
    );
    if query.tag_slugs.as_deref().is_some_and(|t| !t.is_empty()) {
        errors.push(FieldError::new(
            "tagSlugs",
            "secret tags are not supported by this server; leave it out",
        ));
    }
    validate::secret_type("type", query.kind.as_deref(), errors);
    let version = match query.version.as_deref() {
        None | Some("") => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                errors.push(FieldError::new("version", "must be a whole number from 1"));
                None
            }
        },
    };
    Some(ReadOptions {
        project_id: project_id?,
        path: path?,
        view,
        expand,
        recursive,
        version,
    })
}

/// A secret read through a reference, for the audit row (it may be in another environment or
/// folder than the request's): never its value.
fn read_summary(secret: &Secret) -> Value {
    json!({
        "id": secret.id,
        "key": secret.key,
        "environment": secret.environment_slug,
        "secretPath": secret.folder_path,
        "version": secret.version,
    })
}

/// The values to show for `secrets` (already opened), expanded when asked; also the secrets read
/// only because a reference named them.
async fn shown_values(
    state: &AppState,
    access: &ProjectAccess,
    project_id: ProjectId,
    secrets: &[Secret],
    values: Vec<SecretString>,
    expand: bool,
) -> ApiResult<(Vec<SecretString>, Vec<Secret>)> {
    if !expand {
        return Ok((values, Vec::new()));
    }
    let roots = secrets.iter().cloned().zip(values).collect();
    let may_read = |environment: &str, path: &str| access.covers(environment, path);
    let expanded = references::expand(state, project_id, roots, &may_read).await?;
    Ok((expanded.values, expanded.referenced))
}

async fn audit_read(
    state: &AppState,
    caller: &Caller,
    action: &str,
    resource_id: impl ToString,
    project_id: ProjectId,
    metadata: Value,
) -> ApiResult<()> {
    let event = caller.event(action, "secret", resource_id, Some(project_id), metadata);
    // Recorded before the value is answered, but committed without waiting for the WAL flush,
    // like the audit row of a read made through a connection: the flush was most of a read's
    // latency, and a database crash may lose only the last fraction of a second of read records
    // (never a write's, whose audit row commits with the write).
    let mut conn = state.audit_reads.acquire().await?;
    store::audit::record(&mut conn, &event).await?;
    Ok(())
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<ReadQuery>,
) -> ApiResult<Json<SecretsOut>> {
    let mut errors = Vec::new();
    let options = read_options(&query, &mut errors);
    for (field, present) in [
        ("version", query.version.is_some()),
        ("secretName", query.secret_name.is_some()),
    ] {
        if present {
            errors.push(FieldError::new(
                field,
                "is only accepted when reading one secret",
            ));
        }
    }
    let (Some(options), true) = (options, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let at = place(
        &state,
        &caller,
        options.project_id,
        &query.environment,
        &options.path,
        Role::Viewer,
        true,
    )
    .await?;
    let mut folders = vec![at.folder.clone()];
    if options.recursive {
        let mut conn = state.db.acquire().await?;
        folders.extend(store::folders::list(&mut conn, &at.folder, true).await?);
    }
    // A narrowed membership lists only the folders it reaches.
    let folders: Vec<FolderId> = folders
        .iter()
        .filter(|f| at.access.covers(&at.folder.environment_slug, &f.path))
        .map(|f| f.id)
        .collect();
    let secrets = db::list(&state.db, &folders).await?;
    let (values, referenced) = if options.view {
        let opened = secrets
            .iter()
            .map(|s| open(&state, s))
            .collect::<ApiResult<Vec<_>>>()?;
        let (values, referenced) = shown_values(
            &state,
            &at.access,
            at.project_id,
            &secrets,
            opened,
            options.expand,
        )
        .await?;
        (values.into_iter().map(Some).collect(), referenced)
    } else {
        (secrets.iter().map(|_| None).collect::<Vec<_>>(), Vec::new())
    };
    let read: Vec<Value> = secrets
        .iter()
        .map(|s| json!({ "id": s.id, "key": s.key, "secretPath": s.folder_path, "version": s.version }))
        .collect();
    let referenced: Vec<Value> = referenced.iter().map(read_summary).collect();
    audit_read(
        &state,
        &caller,
        "secret.list",
        at.folder.id,
        at.project_id,
        json!({
            "environment": at.folder.environment_slug,
            "secretPath": at.folder.path,
            "recursive": options.recursive,
            "valuesShown": options.view,
            "referencesExpanded": options.expand && options.view,
            "secrets": read,
            "referenced": referenced,
        }),
    )
    .await?;
    let secrets: Vec<SecretOut> = secrets
        .into_iter()
        .zip(values.iter())
        .map(|(s, v)| out(s, v.as_ref()))
        .collect();
    Ok(Json(SecretsOut {
        secrets,
        imports: [],
    }))
}

pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    ValidQuery(query): ValidQuery<ReadQuery>,
) -> ApiResult<Json<OneSecretOut>> {
    let mut errors = Vec::new();
    let options = read_options(&query, &mut errors);
    if query.recursive.is_some() {
        errors.push(FieldError::new(
            "recursive",
            "is only accepted when listing secrets",
        ));
    }
    let (Some(options), true) = (options, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let access = project(
        &state,
        &caller,
        options.project_id,
        Role::Viewer,
        "workspaceId",
    )
    .await?;
    access.require_covers(&query.environment, &options.path)?;
    let metadata = |secrets: Value, referenced: Vec<Value>| {
        json!({
            "environment": query.environment,
            "secretPath": options.path,
            "valuesShown": options.view,
            "referencesExpanded": options.expand && options.view,
            "secrets": secrets,
            "referenced": referenced,
        })
    };
    // Unless references are expanded, the audit row is known before the read and is written by
    // the statement that reads.
    let read_alone = (!(options.expand && options.view)).then(|| {
        let event = caller.event(
            "secret.read",
            "secret",
            "",
            Some(options.project_id),
            Value::Null,
        );
        // The secret's id, for the row's resource id and its `secrets`, comes from the row found.
        store::audit::NewEvent {
            resource_id: None,
            metadata: metadata(json!([]), Vec::new()),
            ..event
        }
    });
    let (secret, audited) =
        secret_to_read(&state, &query, &options, name_from_path(path), read_alone).await?;
    let (value, referenced) = if options.view {
        let opened = vec![open(&state, &secret)?];
        let (mut values, referenced) = shown_values(
            &state,
            &access,
            options.project_id,
            std::slice::from_ref(&secret),
            opened,
            options.expand,
        )
        .await?;
        (values.pop(), referenced)
    } else {
        (None, Vec::new())
    };
    if !audited {
        let read = json!([{ "id": secret.id, "key": secret.key, "version": secret.version }]);
        let referenced = referenced.iter().map(read_summary).collect();
        audit_read(
            &state,
            &caller,
            "secret.read",
            secret.id,
            options.project_id,
            metadata(read, referenced),
        )
        .await?;
    }
    Ok(one(secret, value.as_ref()))
}

/// The secret a read by name asks for: one statement when it is there (the hot path of every app
/// reading its secrets), which also records `audit` when given (then `true` comes back with the
/// secret); otherwise environment, folder and secret one by one, so the 404 names what is
/// missing, in the order the request is checked, and nothing is recorded.
async fn secret_to_read(
    state: &AppState,
    query: &ReadQuery,
    options: &ReadOptions,
    name: ApiResult<String>,
    audit: Option<store::audit::NewEvent>,
) -> ApiResult<(Secret, bool)> {
    let name_mismatch = |name: &str| query.secret_name.as_ref().is_some_and(|n| n != name);
    if let Ok(name) = &name
        && !name_mismatch(name)
        // A slug no environment can have (a NUL, say) is answered by the lookups below.
        && validate::slug("environment", &query.environment, &mut Vec::new())
    {
        let address = db::SecretAddress {
            environment: query.environment.clone(),
            path: options.path.clone(),
            key: name.clone(),
        };
        let found = match audit {
            Some(event) => state
                .secret_reads
                .read(db::AuditedRead {
                    project_id: options.project_id,
                    address,
                    version: options.version,
                    event,
                })
                .await
                .map(|found| found.map(|secret| (secret, true))),
            None => db::at_address(&state.db, options.project_id, &address, options.version)
                .await
                .map(|secret| Some((secret, false)))
                .or_else(|err| match err {
                    store::Error::NotFound => Ok(None),
                    other => Err(other),
                }),
        };
        if let Some(read) = found? {
            return Ok(read);
        }
    }
    let folder = folder_at(
        state,
        options.project_id,
        &query.environment,
        &options.path,
        "secretPath",
    )
    .await?;
    let name = name?;
    if name_mismatch(&name) {
        return Err(ApiError::field(
            "secretName",
            "must be the secret name of the path when sent in the query",
        ));
    }
    let mut conn = state.db.acquire().await?;
    match db::get(&mut conn, folder.id, &name, options.version).await {
        Ok(secret) => Ok((secret, false)),
        Err(store::Error::NotFound) if options.version.is_some() => {
            Err(if db::exists(&mut conn, folder.id, &name).await? {
                ApiError::NotFound {
                    what: "secret version",
                    field: Some("version"),
                }
            } else {
                secret_not_found()
            })
        }
        Err(store::Error::NotFound) => Err(secret_not_found()),
        Err(other) => Err(other.into()),
    }
}

/// Checks what every write body shares; returns the project, environment and path.
fn write_target(
    body: &WriteBody,
    errors: &mut Vec<FieldError>,
) -> Option<(ProjectId, String, String)> {
    let project_id = validate::project_id(
        "workspaceId",
        body.workspace_id.as_deref(),
        &[
            ("projectSlug", body.project_slug.as_deref()),
            ("workspaceSlug", body.workspace_slug.as_deref()),
        ],
        errors,
    );
    let environment = match body.environment.as_deref() {
        Some(e) if !e.is_empty() => Some(e.to_owned()),
        _ => {
            errors.push(FieldError::new("environment", "is required"));
            None
        }
    };
    let path = validate::path("secretPath", body.secret_path.as_deref(), errors);
    validate::secret_type("type", body.kind.as_deref(), errors);
    validate::unsupported(
        "skipMultilineEncoding",
        body.skip_multiline_encoding.as_ref(),
        errors,
    );
    validate::unsupported("tagIds", body.tag_ids.as_ref(), errors);
    validate::unsupported(
        "secretReminderRepeatDays",
        body.secret_reminder_repeat_days.as_ref(),
        errors,
    );
    validate::unsupported(
        "secretReminderNote",
        body.secret_reminder_note.as_ref(),
        errors,
    );
    validate::unsupported(
        "secretReminderRecipients",
        body.secret_reminder_recipients.as_ref(),
        errors,
    );
    validate::unsupported("secretMetadata", body.secret_metadata.as_ref(), errors);
    validate::unsupported("metadata", body.metadata.as_ref(), errors);
    if let Some(value) = &body.secret_value {
        validate::value("secretValue", value.expose_secret(), errors);
    }
    if let Some(comment) = &body.secret_comment {
        validate::comment("secretComment", comment, errors);
    }
    Some((project_id?, environment?, path?))
}

fn write_summary(secret: &Secret) -> Value {
    json!({
        "key": secret.key,
        "environment": secret.environment_slug,
        "secretPath": secret.folder_path,
        "version": secret.version,
    })
}

/// 409 naming `field` when a rotation manages the secret `key` of the folder (see
/// `store::rotations::mapping`).
async fn refuse_managed(
    conn: &mut sqlx::PgConnection,
    folder_id: store::FolderId,
    key: &str,
    field: &'static str,
) -> ApiResult<()> {
    match store::rotations::mapping::owner(conn, folder_id, key).await? {
        Some((_, rotation)) => Err(managed_by(&rotation, "this secret is", Some(field))),
        None => Ok(()),
    }
}

/// Who a write's `secret.*` event names: the caller, as the audit row does.
fn writer(caller: &Caller) -> db::Writer {
    db::Writer::Member(caller.identity_id.0)
}

/// The name is not repeated: a problem never echoes what was sent (issue 22).
fn duplicate(field: &'static str) -> ApiError {
    ApiError::Conflict {
        detail: "a secret with this name already exists in this folder".to_owned(),
        field: Some(field),
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: ValidJson<WriteBody>,
) -> ApiResult<Json<OneSecretOut>> {
    let body = body.value;
    let mut errors = Vec::new();
    let name = match &path {
        Ok(Path(name)) => {
            validate::secret_name("secretName", name, &mut errors).then(|| name.clone())
        }
        Err(_) => {
            errors.push(FieldError::new("secretName", "is not a valid name"));
            None
        }
    };
    let target = write_target(&body, &mut errors);
    if body.new_secret_name.is_some() {
        errors.push(FieldError::new(
            "newSecretName",
            "is only accepted when updating a secret",
        ));
    }
    let value = match &body.secret_value {
        Some(v) => Some(v.clone()),
        None => {
            errors.push(FieldError::new("secretValue", "is required"));
            None
        }
    };
    let (Some(name), Some((project_id, env, path)), Some(value), true) =
        (name, target, value, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let at = place(
        &state,
        &caller,
        project_id,
        &env,
        &path,
        Role::Member,
        false,
    )
    .await?;
    let comment = body.secret_comment.unwrap_or_default();
    let id = SecretId::new();
    let version_id = SecretVersionId::new();
    let sealed = state
        .broker
        .seal_secret_value(
            version_id,
            SecretPlace {
                project_id,
                environment_id: at.folder.environment_id,
                secret_id: id,
                version: 1,
            },
            &value,
        )
        .map_err(ApiError::internal)?;
    let new = db::NewSecret {
        id,
        project_id,
        environment_id: at.folder.environment_id,
        folder_id: at.folder.id,
        key: &name,
        comment: &comment,
        version_id,
        value_sealed: &sealed,
        by: writer(&caller),
    };
    let mut tx = state.db.begin().await?;
    refuse_managed(&mut tx, at.folder.id, &name, "secretName").await?;
    let secret = db::create(&mut tx, &new).await.map_err(|err| match err {
        store::Error::Duplicate { .. } => duplicate("secretName"),
        other => other.into(),
    })?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret.create",
            "secret",
            secret.id,
            Some(project_id),
            write_summary(&secret),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(one(secret, Some(&value)))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: ValidJson<WriteBody>,
) -> ApiResult<Json<OneSecretOut>> {
    let body = body.value;
    let mut errors = Vec::new();
    let target = write_target(&body, &mut errors);
    if let Some(new_name) = &body.new_secret_name {
        validate::secret_name("newSecretName", new_name, &mut errors);
    }
    let (Some((project_id, env, path_)), true) = (target, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let at = place(
        &state,
        &caller,
        project_id,
        &env,
        &path_,
        Role::Member,
        false,
    )
    .await?;
    let name = name_from_path(path)?;
    let mut conn = state.db.acquire().await?;
    let current = db::get(&mut conn, at.folder.id, &name, None)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => secret_not_found(),
            other => other.into(),
        })?;
    drop(conn);
    let value = match &body.secret_value {
        Some(v) => v.clone(),
        None => open(&state, &current)?,
    };
    let key = body.new_secret_name.as_deref().unwrap_or(&name).to_owned();
    let comment = body
        .secret_comment
        .clone()
        .unwrap_or_else(|| current.comment.clone());
    let version_id = SecretVersionId::new();
    let sealed = state
        .broker
        .seal_secret_value(
            version_id,
            SecretPlace {
                version: current.latest_version + 1,
                ..binding(&current)
            },
            &value,
        )
        .map_err(ApiError::internal)?;
    let next = db::NextVersion {
        secret_id: current.id,
        expected: current.latest_version,
        key: &key,
        comment: &comment,
        version_id,
        value_sealed: &sealed,
        by: writer(&caller),
    };
    let mut tx = state.db.begin().await?;
    refuse_managed(&mut tx, at.folder.id, &name, "secretName").await?;
    if key != name {
        refuse_managed(&mut tx, at.folder.id, &key, "newSecretName").await?;
    }
    let secret = db::add_version(&mut tx, &next)
        .await
        .map_err(|err| match err {
            store::Error::Duplicate { .. } => duplicate("newSecretName"),
            store::Error::NotFound => secret_not_found(),
            store::Error::VersionMismatch { current } => ApiError::Conflict {
                detail: format!(
                    "the secret changed while this update ran (now version {current}); retry"
                ),
                field: None,
            },
            other => other.into(),
        })?;
    let mut summary = write_summary(&secret);
    summary["valueChanged"] = json!(body.secret_value.is_some());
    if key != name {
        summary["previousKey"] = json!(name);
    }
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret.update",
            "secret",
            secret.id,
            Some(project_id),
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(one(secret, Some(&value)))
}

/// `DELETE` carries its fields in a JSON body, as Infisical's SDKs send them.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    bytes: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<OneSecretOut>> {
    let bytes = bytes.map_err(|rejection| crate::extract::body_rejection(&rejection))?;
    let body: WriteBody = if bytes.is_empty() {
        WriteBody::default()
    } else if !is_json(headers.get(axum::http::header::CONTENT_TYPE)) {
        return Err(ApiError::UnsupportedMediaType);
    } else {
        parse_json(&bytes)?
    };
    let mut errors = Vec::new();
    let target = write_target(&body, &mut errors);
    for (field, present) in [
        ("secretValue", body.secret_value.is_some()),
        ("secretComment", body.secret_comment.is_some()),
        ("newSecretName", body.new_secret_name.is_some()),
    ] {
        if present {
            errors.push(FieldError::new(field, "is not accepted when deleting"));
        }
    }
    let (Some((project_id, env, path_)), true) = (target, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let at = place(
        &state,
        &caller,
        project_id,
        &env,
        &path_,
        Role::Member,
        false,
    )
    .await?;
    let name = name_from_path(path)?;
    let mut tx = state.db.begin().await?;
    let secret = db::get(&mut tx, at.folder.id, &name, None)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => secret_not_found(),
            other => other.into(),
        })?;
    refuse_managed(&mut tx, at.folder.id, &name, "secretName").await?;
    db::delete(&mut tx, secret.id, &writer(&caller))
        .await
        .map_err(|err| match err {
            store::Error::NotFound => secret_not_found(),
            other => other.into(),
        })?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret.delete",
            "secret",
            secret.id,
            Some(project_id),
            write_summary(&secret),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(one(secret, None))
}

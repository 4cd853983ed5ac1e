//! `/api/v1/identities`: users and machine identities, managed by instance admins. A machine
//! identity's client secret (and a user's password) is hashed with argon2id; the secret is shown
//! once, at creation or rotation, and never stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use crypto::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::IdentityId;
use store::identities::{self as db, Kind};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::extract::{PathId, ValidJson, ValidQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::fields;
use crate::routes::table::Routes;
use crate::routes::unique::Unique;
use crate::routes::{PageQuery, page_request};

const MIN_PASSWORD: usize = 12;
const NAME_MAX: usize = 128;

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/identities", list)
        .post("/api/v1/identities", create)
        .get("/api/v1/identities/{identityId}", fetch)
        .patch("/api/v1/identities/{identityId}", update)
        .delete("/api/v1/identities/{identityId}", remove)
        .post(
            "/api/v1/identities/{identityId}/client-secret",
            rotate_secret,
        )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityOut {
    pub id: Uuid,
    pub org_id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    pub client_id: Option<String>,
    pub is_instance_admin: bool,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<db::Identity> for IdentityOut {
    fn from(i: db::Identity) -> Self {
        IdentityOut {
            id: i.id.0,
            org_id: i.org_id.0,
            kind: i.kind,
            name: i.name,
            email: i.email,
            client_id: i.client_id,
            is_instance_admin: i.is_instance_admin,
            disabled: i.disabled_at.is_some(),
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityIn {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    is_instance_admin: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IdentityPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    is_instance_admin: Option<bool>,
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "identity",
        field: None,
    }
}

const EMAIL_TAKEN: Unique = Unique {
    constraint: "identities_email_key",
    field: "email",
    taken: "an identity with this email already exists",
};

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<IdentityIn>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    caller.require_instance_admin()?;
    let input = body.value;
    let mut errors = Vec::new();
    let name = fields::display_name(&input.name, NAME_MAX, &mut errors);
    let kind = match input.kind.as_str() {
        "user" => Some(Kind::User),
        "machine" => Some(Kind::Machine),
        _ => {
            errors.push(FieldError::new("type", "must be \"user\" or \"machine\""));
            None
        }
    };
    let email = input.email.as_deref().map(str::trim).map(str::to_lowercase);
    match kind {
        Some(Kind::User) => {
            let valid_email = email.as_deref().is_some_and(|e| {
                e.len() <= 320
                    && e.split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            });
            if !valid_email {
                errors.push(FieldError::new("email", "must be an email address"));
            } else if let Some(e) = email.as_deref()
                && crate::text::one_line("email", e, &mut errors)
                && e.contains(char::is_whitespace)
            {
                errors.push(FieldError::new("email", "must not contain spaces"));
            }
            let long_enough = input.password.as_ref().is_some_and(|p| {
                let n = p.expose_secret().chars().count();
                (MIN_PASSWORD..=1024).contains(&n)
            });
            if !long_enough {
                errors.push(FieldError::new(
                    "password",
                    format!("must be {MIN_PASSWORD} to 1024 characters"),
                ));
            }
        }
        Some(Kind::Machine) => {
            if email.is_some() {
                errors.push(FieldError::new("email", "machine identities have no email"));
            }
            if input.password.is_some() {
                errors.push(FieldError::new(
                    "password",
                    "machine identities get a generated client secret",
                ));
            }
        }
        None => {}
    }
    let (Some(name), Some(kind), true) = (name, kind, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let (secret, client_id, shown) = match kind {
        Kind::User => (
            input
                .password
                .unwrap_or_else(|| SecretString::from(String::new())),
            None,
            false,
        ),
        Kind::Machine => (
            crypto::random_secret(64),
            Some(Uuid::new_v4().to_string()),
            true,
        ),
    };
    let secret_hash = crate::auth::argon::hash(
        state.argon.enter().await?,
        SecretString::from(secret.expose_secret().to_owned()),
    )
    .await?;
    let new = db::NewIdentity {
        id: IdentityId::new(),
        org_id: caller.org_id,
        kind,
        name: &name,
        email: email.as_deref(),
        client_id: client_id.as_deref(),
        secret_hash: &secret_hash,
        is_instance_admin: input.is_instance_admin,
    };
    let mut tx = state.db.begin().await?;
    let identity = db::insert(&mut tx, &new)
        .await
        .map_err(|err| EMAIL_TAKEN.or(err, ApiError::from))?;
    let event = caller.event(
        "identity.create",
        "identity",
        identity.id,
        None,
        json!({ "type": kind.as_str(), "name": name, "isInstanceAdmin": input.is_instance_admin }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    let mut body = json!({ "identity": IdentityOut::from(identity) });
    if shown {
        // Shown once: only its argon2id hash is kept.
        body["clientSecret"] = json!(secret.expose_secret());
    }
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_instance_admin()?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let page = db::list(&state.db, caller.org_id, &page).await?;
    let items: Vec<IdentityOut> = page.items.into_iter().map(IdentityOut::from).collect();
    Ok(Json(
        json!({ "identities": items, "nextCursor": page.next.map(|c| c.encode()) }),
    ))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_instance_admin()?;
    let identity = db::get(&state.db, caller.org_id, IdentityId(id))
        .await
        .map_err(|e| match e {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(Json(json!({ "identity": IdentityOut::from(identity) })))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<IdentityPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_instance_admin()?;
    let patch = body.value;
    let mut errors = Vec::new();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| fields::display_name(n, NAME_MAX, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = IdentityId(id);
    let mut tx = begin_admin_change(&state, caller.org_id).await?;
    let change = db::Change {
        name: name.as_deref(),
        disabled: patch.disabled,
        is_instance_admin: patch.is_instance_admin,
    };
    let identity = db::update(&mut tx, caller.org_id, id, &change)
        .await
        .map_err(|e| match e {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    ensure_an_admin_remains(&mut tx, caller.org_id).await?;
    if identity.disabled_at.is_some() {
        store::tokens::revoke_all(&mut tx, id).await?;
    }
    let metadata = json!({ "disabled": patch.disabled, "isInstanceAdmin": patch.is_instance_admin, "renamed": name.is_some() });
    store::audit::record(
        &mut tx,
        &caller.event("identity.update", "identity", id, None, metadata),
    )
    .await?;
    tx.commit().await?;
    state.tokens.forget_all();
    Ok(Json(json!({ "identity": IdentityOut::from(identity) })))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_instance_admin()?;
    let id = IdentityId(id);
    let mut tx = begin_admin_change(&state, caller.org_id).await?;
    let identity = db::delete(&mut tx, caller.org_id, id)
        .await
        .map_err(|e| match e {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    ensure_an_admin_remains(&mut tx, caller.org_id).await?;
    store::audit::record(
        &mut tx,
        &caller.event("identity.delete", "identity", id, None, json!({})),
    )
    .await?;
    tx.commit().await?;
    state.tokens.forget_all();
    Ok(Json(json!({ "identity": IdentityOut::from(identity) })))
}

/// Issues a new client secret for a machine identity and revokes its tokens.
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_instance_admin()?;
    let id = IdentityId(id);
    let secret = crypto::random_secret(64);
    let secret_hash = crate::auth::argon::hash(
        state.argon.enter().await?,
        SecretString::from(secret.expose_secret().to_owned()),
    )
    .await?;
    let mut tx = state.db.begin().await?;
    let identity = db::set_client_secret_hash(&mut tx, caller.org_id, id, &secret_hash)
        .await
        .map_err(|e| match e {
            store::Error::NotFound => ApiError::NotFound {
                what: "machine identity",
                field: None,
            },
            other => other.into(),
        })?;
    store::tokens::revoke_all(&mut tx, id).await?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "identity.client_secret.rotate",
            "identity",
            id,
            None,
            json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    state.tokens.forget_all();
    Ok(Json(
        json!({ "identity": IdentityOut::from(identity), "clientSecret": secret.expose_secret() }),
    ))
}

/// A transaction for a change that may remove an instance admin, holding the organisation's admin
/// lock so that `ensure_an_admin_remains` counts with every concurrent such change committed: two
/// admins demoting each other at once otherwise each saw the other still enabled.
async fn begin_admin_change(
    state: &AppState,
    org_id: store::OrgId,
) -> ApiResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = state.db.begin().await?;
    db::lock_admins(&mut tx, org_id).await?;
    Ok(tx)
}

/// The change just made must leave at least one enabled instance admin, or nobody could manage the
/// instance any more; the transaction is dropped (rolled back) otherwise.
async fn ensure_an_admin_remains(
    tx: &mut sqlx::PgConnection,
    org_id: store::OrgId,
) -> ApiResult<()> {
    if db::count_enabled_admins(tx, org_id).await? == 0 {
        return Err(ApiError::Conflict {
            detail: "this would leave the instance without an enabled instance admin".to_owned(),
            field: None,
        });
    }
    Ok(())
}

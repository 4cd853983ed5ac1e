//! `/api/v2/users`: get, create (database connections only) and update, with Auth0's scope
//! rules, validation messages, duplicate detection and one-level metadata merge.
//!
//! Passwords follow Auth0's default "good" policy for new tenants: at least 8 characters and 3
//! of the 4 kinds (lower, upper, digit, special).

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth::Caller;
use super::input::Payload;
use crate::errors::{MgmtError, MgmtResult};
use crate::model::{self, User};
use crate::secrets;
use crate::server::TenantExt;

fn not_found() -> MgmtError {
    MgmtError::not_found("The user does not exist.", "inexistent_user")
}

/// `GET /api/v2/users/{id}`
pub(crate) async fn get_one(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(id): Path<String>,
) -> MgmtResult<Response> {
    caller.require_any(&["read:users", "read:current_user", "read:user_idp_tokens"])?;
    let body = tenant
        .read()
        .user(&id)
        .map(User::to_json)
        .ok_or_else(not_found)?;
    Ok(Json(body).into_response())
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

fn check_email(email: &str) -> MgmtResult<()> {
    if valid_email(email) {
        Ok(())
    } else {
        Err(MgmtError::invalid_body(format!(
            "Payload validation error: 'Object didn't pass validation for format email: {email}' on property email (The user's email)."
        )))
    }
}

fn check_password(password: &str) -> MgmtResult<()> {
    let kinds = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    let strong = password.chars().count() >= 8 && kinds.iter().filter(|k| **k).count() >= 3;
    if strong {
        Ok(())
    } else {
        Err(MgmtError::bad_request(
            "PasswordStrengthError: Password is too weak",
            "invalid_body",
        ))
    }
}

const CREATE_FIELDS: &[&str] = &[
    "email",
    "phone_number",
    "user_metadata",
    "blocked",
    "email_verified",
    "phone_verified",
    "app_metadata",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_id",
    "connection",
    "password",
    "verify_email",
    "username",
];

/// `POST /api/v2/users`: 201 with the user, 409 when the email is taken in the connection.
pub(crate) async fn create(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(&["create:users"])?;
    let payload = Payload::parse(&body)?;
    payload.reject_unknown(CREATE_FIELDS)?;
    let connection = payload.required_string("connection")?;
    let email = payload.string("email")?;
    let password = payload.string("password")?;
    let custom_id = payload.non_empty_string("user_id")?;
    let name = payload.non_empty_string("name")?;
    let nickname = payload.non_empty_string("nickname")?;
    let picture = payload.non_empty_string("picture")?;
    let mut user = User {
        user_id: format!("auth0|{}", custom_id.unwrap_or_else(secrets::new_hex_id)),
        connection: connection.clone(),
        email: None,
        email_verified: payload.bool("email_verified")?.unwrap_or(false),
        username: payload.non_empty_string("username")?,
        phone_number: payload.non_empty_string("phone_number")?,
        password: None,
        name: String::new(),
        nickname: String::new(),
        given_name: payload.non_empty_string("given_name")?,
        family_name: payload.non_empty_string("family_name")?,
        picture: String::new(),
        blocked: payload.bool("blocked")?.unwrap_or(false),
        app_metadata: payload.object("app_metadata")?.unwrap_or_default(),
        user_metadata: payload.object("user_metadata")?.unwrap_or_default(),
        created_at: model::now_timestamp(),
        updated_at: String::new(),
    };
    payload.bool("verify_email")?;
    payload.bool("phone_verified")?;

    let mut data = tenant.write();
    let Some(conn) = data.connection(&connection) else {
        return Err(MgmtError::bad_request(
            "The connection does not exist.",
            "inexistent_connection",
        ));
    };
    if conn.strategy != "auth0" {
        return Err(MgmtError::bad_request(
            "Connection is not a database connection; users must be created through the identity provider.",
            "operation_not_supported",
        ));
    }
    let email = email.ok_or_else(|| {
        MgmtError::invalid_body("Payload validation error: 'Missing required property: email'.")
    })?;
    check_email(&email)?;
    let password = password.ok_or_else(|| {
        MgmtError::invalid_body("Payload validation error: 'Missing required property: password'.")
    })?;
    check_password(&password)?;
    if data.email_taken(&connection, &email, None) || data.user(&user.user_id).is_some() {
        return Err(MgmtError::conflict(
            "The user already exists.",
            "auth0_idp_error",
        ));
    }
    user.name = name.unwrap_or_else(|| email.clone());
    user.nickname =
        nickname.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    user.picture = picture.unwrap_or_else(|| model::default_picture(&user.name));
    user.email = Some(email);
    user.password = Some(password);
    user.updated_at = user.created_at.clone();
    let body = user.to_json();
    data.insert_user(user)
        .map_err(|_| MgmtError::conflict("The user already exists.", "auth0_idp_error"))?;
    drop(data);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

const PATCH_FIELDS: &[&str] = &[
    "blocked",
    "email_verified",
    "email",
    "phone_number",
    "phone_verified",
    "user_metadata",
    "app_metadata",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "verify_email",
    "verify_phone_number",
    "password",
    "connection",
    "client_id",
    "username",
];

/// Which scopes allow changing a given attribute without `update:users`.
fn scopes_for(field: &str) -> &'static [&'static str] {
    match field {
        "app_metadata" => &["update:users", "update:users_app_metadata"],
        "user_metadata" => &["update:users", "update:current_user_metadata"],
        _ => &["update:users"],
    }
}

/// Auth0's metadata merge: top-level keys replace, `null` deletes, `{}` clears everything.
fn merge_metadata(target: &mut Map<String, Value>, patch: Option<Value>) {
    match patch {
        Some(Value::Object(patch)) if patch.is_empty() => target.clear(),
        Some(Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    target.insert(key, value);
                }
            }
        }
        Some(Value::Null) => target.clear(),
        _ => {}
    }
}

/// `PATCH /api/v2/users/{id}`
pub(crate) async fn patch(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(&[
        "update:users",
        "update:users_app_metadata",
        "update:current_user_metadata",
    ])?;
    let payload = Payload::parse(&body)?;
    payload.reject_unknown(PATCH_FIELDS)?;
    for field in payload.0.keys() {
        caller.require_any(scopes_for(field))?;
    }
    for key in ["app_metadata", "user_metadata"] {
        if let Some(value) = payload.0.get(key)
            && !value.is_object()
            && !value.is_null()
        {
            return Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'Expected type object but found type {}' on property {key}.",
                if value.is_array() { "array" } else { "string" }
            )));
        }
    }
    let email = payload.nullable_string("email")?;
    let password = payload.string("password")?;
    if email.is_some() && password.is_some() {
        return Err(MgmtError::invalid_body(
            "Cannot update password and email simultaneously",
        ));
    }
    if let Some(Some(email)) = &email {
        check_email(email)?;
    }
    if let Some(password) = &password {
        check_password(password)?;
    }
    let blocked = payload.bool("blocked")?;
    let email_verified = payload.bool("email_verified")?;
    let name = payload.non_empty_string("name")?;
    let nickname = payload.non_empty_string("nickname")?;
    let picture = payload.non_empty_string("picture")?;
    let given_name = payload.nullable_string("given_name")?;
    let family_name = payload.nullable_string("family_name")?;
    let phone_number = payload.nullable_string("phone_number")?;
    let username = payload.nullable_string("username")?;
    payload.bool("verify_email")?;

    let mut data = tenant.write();
    let connection = data.user(&id).ok_or_else(not_found)?.connection.clone();
    if let Some(Some(email)) = &email
        && data.email_taken(&connection, email, Some(&id))
    {
        return Err(MgmtError::conflict(
            "The specified new email already exists",
            "auth0_idp_error",
        ));
    }
    let user = data.user_mut(&id).ok_or_else(not_found)?;
    if let Some(email) = email {
        user.email = email;
        // Auth0 marks a changed email unverified unless the request says otherwise.
        user.email_verified = false;
    }
    if let Some(password) = password {
        user.password = Some(password);
    }
    if let Some(v) = email_verified {
        user.email_verified = v;
    }
    if let Some(v) = blocked {
        user.blocked = v;
    }
    if let Some(v) = name {
        user.name = v;
    }
    if let Some(v) = nickname {
        user.nickname = v;
    }
    if let Some(v) = picture {
        user.picture = v;
    }
    if let Some(v) = given_name {
        user.given_name = v;
    }
    if let Some(v) = family_name {
        user.family_name = v;
    }
    if let Some(v) = phone_number {
        user.phone_number = v;
    }
    if let Some(v) = username {
        user.username = v;
    }
    merge_metadata(
        &mut user.app_metadata,
        payload.0.get("app_metadata").cloned(),
    );
    merge_metadata(
        &mut user.user_metadata,
        payload.0.get("user_metadata").cloned(),
    );
    user.updated_at = model::now_timestamp();
    let body = user.to_json();
    drop(data);
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn password_policy_is_auth0_good() {
        assert!(check_password("Passw0rd!").is_ok());
        assert!(check_password("Password1").is_ok());
        assert!(check_password("password").is_err());
        assert!(check_password("Pa1!").is_err());
        assert!(check_password("passwordpassword1").is_err());
    }

    #[test]
    fn emails() {
        assert!(valid_email("a@b.co"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("@b.co"));
        assert!(!valid_email("a b@c.co"));
    }

    #[test]
    fn metadata_merges_one_level() {
        let mut m = json!({"plan": "free", "keep": {"x": 1}, "gone": true})
            .as_object()
            .cloned()
            .unwrap();
        merge_metadata(
            &mut m,
            Some(json!({"plan": "pro", "gone": null, "keep": {"y": 2}})),
        );
        assert_eq!(
            Value::Object(m.clone()),
            json!({"plan": "pro", "keep": {"y": 2}})
        );
        merge_metadata(&mut m, Some(json!({})));
        assert!(m.is_empty());
    }
}

//! Auth0 users through a connection: get, create and update, with Auth0's own field names passed
//! through after Keyhold's checks, and only a fixed set of profile fields passed back (never the
//! identity provider tokens Auth0 can embed in `identities`).
//!
//! A password stays a `SecretString` until the Auth0 client serialises the request; it is never
//! audited, logged or echoed (Auth0 errors that quote it are scrubbed by the client).

use auth0::SecretString;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crypto::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use store::ConnectionId;

use super::session::Session;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::ValidJson;
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::auth0_problems::Subject;
use crate::routes::fields;

const USER: Subject = Subject {
    what: "Auth0 user",
    field: None,
};

/// Profile fields answered; anything else Auth0 sends (IdP tokens, multifactor state) stays out.
const USER_FIELDS: &[&str] = &[
    "user_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "blocked",
    "created_at",
    "updated_at",
    "last_login",
    "logins_count",
    "app_metadata",
    "user_metadata",
];
const IDENTITY_FIELDS: &[&str] = &["connection", "provider", "user_id", "isSocial"];

const SHORT_MAX: usize = 300;
const URL_MAX: usize = 2048;
const PASSWORD_MAX: usize = 512;
const ID_MAX: usize = 512;

/// `POST .../users`, Auth0's `POST /api/v2/users` fields.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    connection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// Sent to Auth0 separately, as a secret.
    #[serde(default, skip_serializing)]
    password: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blocked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verify_email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_metadata: Option<Map<String, Value>>,
}

/// `PATCH .../users/{userId}`, Auth0's `PATCH /api/v2/users/{id}` fields. For the nullable ones,
/// absent leaves the attribute and `null` removes it; the others refuse `null` rather than read
/// it as "leave it" (a client sending `"blocked": null` meant something).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserPatch {
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    blocked: Option<bool>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    email_verified: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    email: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    phone_number: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    phone_verified: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    user_metadata: Option<Option<Map<String, Value>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    app_metadata: Option<Option<Map<String, Value>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    given_name: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    family_name: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    name: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    nickname: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    picture: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    verify_email: Option<bool>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    verify_phone_number: Option<bool>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing
    )]
    password: Option<SecretString>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    connection: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::extract::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    client_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    username: Option<Option<String>>,
}

/// Distinguishes an explicit `null` (Some(None)) from an absent field (None, via `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Collects every field at fault, so one answer names them all.
#[derive(Default)]
struct Checks(Vec<FieldError>);

impl Checks {
    fn text(&mut self, field: &str, value: Option<&str>, max: usize) {
        let Some(value) = value else { return };
        if value.trim().is_empty() || value.chars().count() > max {
            self.0.push(FieldError::new(
                field,
                format!("must be 1 to {max} characters, not only spaces"),
            ));
        } else {
            crate::text::one_line(field, value, &mut self.0);
        }
    }

    fn email(&mut self, value: Option<&str>) {
        let Some(value) = value else { return };
        let shaped = value.len() <= 254
            && !value.chars().any(char::is_whitespace)
            && crate::text::is_one_line(value)
            && value.rsplit_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !shaped {
            self.0.push(FieldError::new(
                "email",
                "must be an email address like user@example.com (at most 254 characters)",
            ));
        }
    }

    /// Auth0 stores phone numbers in E.164.
    fn phone(&mut self, value: Option<&str>) {
        let Some(value) = value else { return };
        let digits = value.strip_prefix('+').unwrap_or_default();
        let e164 = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !e164 {
            self.0.push(FieldError::new(
                "phone_number",
                "must be in E.164 format, e.g. +14155550100",
            ));
        }
    }

    fn picture(&mut self, value: Option<&str>) {
        let Some(value) = value else { return };
        let url = value.len() <= URL_MAX
            && (value.starts_with("https://") || value.starts_with("http://"))
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !url {
            self.0.push(FieldError::new(
                "picture",
                format!("must be an http(s) URL of at most {URL_MAX} characters"),
            ));
        }
    }

    fn password(&mut self, value: Option<&SecretString>) {
        let Some(value) = value else { return };
        let secret = value.expose_secret();
        if secret.is_empty() || secret.chars().count() > PASSWORD_MAX {
            self.0.push(FieldError::new(
                "password",
                format!("must be 1 to {PASSWORD_MAX} characters"),
            ));
        } else if secret.chars().any(char::is_control) {
            self.0.push(FieldError::new(
                "password",
                "must not contain control characters",
            ));
        }
    }

    /// Auth0 refuses metadata field names with a dot or a leading `$`.
    fn metadata(&mut self, field: &str, value: Option<&Map<String, Value>>) {
        let Some(map) = value else { return };
        if map
            .keys()
            .any(|k| k.is_empty() || k.contains('.') || k.starts_with('$'))
        {
            self.0.push(FieldError::new(
                field,
                "field names must be non-empty and contain no '.' and not start with '$'",
            ));
        }
    }

    fn done(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

impl UserIn {
    fn check(&self) -> ApiResult<()> {
        let mut c = Checks::default();
        c.text("connection", Some(&self.connection), 128);
        c.email(self.email.as_deref());
        c.phone(self.phone_number.as_deref());
        c.text("username", self.username.as_deref(), 128);
        c.password(self.password.as_ref());
        c.text("user_id", self.user_id.as_deref(), 255);
        for (field, value) in [
            ("name", &self.name),
            ("nickname", &self.nickname),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
        ] {
            c.text(field, value.as_deref(), SHORT_MAX);
        }
        c.picture(self.picture.as_deref());
        c.metadata("app_metadata", self.app_metadata.as_ref());
        c.metadata("user_metadata", self.user_metadata.as_ref());
        c.done()
    }
}

impl UserPatch {
    fn check(&self) -> ApiResult<()> {
        let mut c = Checks::default();
        c.email(self.email.as_ref().and_then(Option::as_deref));
        c.phone(self.phone_number.as_ref().and_then(Option::as_deref));
        c.text(
            "username",
            self.username.as_ref().and_then(Option::as_deref),
            128,
        );
        c.password(self.password.as_ref());
        for (field, value) in [
            (
                "given_name",
                self.given_name.as_ref().and_then(Option::as_deref),
            ),
            (
                "family_name",
                self.family_name.as_ref().and_then(Option::as_deref),
            ),
            ("name", self.name.as_deref()),
            ("nickname", self.nickname.as_deref()),
        ] {
            c.text(field, value, SHORT_MAX);
        }
        c.picture(self.picture.as_deref());
        c.text("connection", self.connection.as_deref(), 128);
        if let Some(client_id) = &self.client_id
            && !fields::is_client_id(client_id)
        {
            c.0.push(FieldError::new("client_id", fields::CLIENT_ID_RULE));
        }
        c.metadata(
            "app_metadata",
            self.app_metadata.as_ref().and_then(Option::as_ref),
        );
        c.metadata(
            "user_metadata",
            self.user_metadata.as_ref().and_then(Option::as_ref),
        );
        // Auth0 changes one credential at a time.
        if self.email.is_some() && self.password.is_some() {
            c.0.push(FieldError::new(
                "password",
                "Auth0 does not change email and password in one request; send two",
            ));
        }
        c.done()
    }
}

/// The route's `{userId}`: Auth0 ids look like `auth0|63f...` or `google-oauth2|1234`.
fn user_id(raw: &str) -> ApiResult<&str> {
    // "." and ".." would be resolved away as path segments on the way to Auth0; no user id is one.
    if raw.is_empty()
        || raw.chars().count() > ID_MAX
        || raw.chars().any(char::is_control)
        || raw.chars().all(|c| c == '.')
    {
        return Err(ApiError::field(
            "userId",
            format!("must be an Auth0 user ID of 1 to {ID_MAX} characters"),
        ));
    }
    Ok(raw)
}

fn connection_id(raw: &str) -> ApiResult<ConnectionId> {
    let mut errors = Vec::new();
    match fields::uuid("connectionId", raw, &mut errors) {
        Some(id) => Ok(ConnectionId(id)),
        None => Err(ApiError::Validation(errors)),
    }
}

/// The profile fields Keyhold answers with, from Auth0's user object.
fn shown(user: Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (key, value) in user {
        if key == "identities" {
            let identities: Vec<Value> = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(|identity| {
                    Value::Object(
                        identity
                            .iter()
                            .filter(|(k, _)| IDENTITY_FIELDS.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                })
                .collect();
            out.insert(key, Value::Array(identities));
        } else if USER_FIELDS.contains(&key.as_str()) {
            out.insert(key, value);
        }
    }
    Value::Object(out)
}

/// The names (never the values) of the fields a request sets, for the audit row.
fn field_names(fields: &Map<String, Value>, password: bool) -> Vec<String> {
    let mut names: Vec<String> = fields.keys().cloned().collect();
    if password {
        names.push("password".to_owned());
    }
    names.sort();
    names
}

fn as_map<T: Serialize>(value: &T) -> ApiResult<Map<String, Value>> {
    match serde_json::to_value(value).map_err(ApiError::internal)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::internal(
            "a user DTO did not serialise to an object",
        )),
    }
}

/// `GET /api/v1/app-connections/auth0/{connectionId}/users/{userId}`
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let Path((connection, user)) = path.map_err(|_| ApiError::NoRoute)?;
    let id = connection_id(&connection)?;
    let user_id = user_id(&user)?;
    let session = Session::open(&state, &caller, id).await?;
    let (auth0, domain) = (&state.auth0, &session.domain);
    let outcome = session
        .call(|token| async move { auth0.get_user(domain, &token, user_id).await })
        .await;
    let user = session
        .finish_read(
            "app_connection.user.get",
            json!({ "userId": user_id }),
            outcome,
            USER,
        )
        .await?;
    Ok(Json(json!({ "user": shown(user) })))
}

/// `POST /api/v1/app-connections/auth0/{connectionId}/users`
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: ValidJson<UserIn>,
) -> ApiResult<Response> {
    let Path(connection) = path.map_err(|_| ApiError::NoRoute)?;
    let id = connection_id(&connection)?;
    let input = body.value;
    input.check()?;
    let session = Session::open(&state, &caller, id).await?;
    let fields = as_map(&input)?;
    let password = input.password.as_ref();
    let (auth0, domain, fields_ref) = (&state.auth0, &session.domain, &fields);
    let outcome = session
        .call(|token| async move {
            auth0
                .create_user(domain, &token, fields_ref, password)
                .await
        })
        .await;
    let created_id = outcome
        .as_ref()
        .ok()
        .and_then(|u| u.get("user_id").cloned());
    let metadata = json!({
        "userId": created_id,
        "connection": input.connection,
        "fields": field_names(&fields, password.is_some()),
    });
    let user = session
        .finish("app_connection.user.create", metadata, outcome, USER)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": shown(user) }))).into_response())
}

/// `PATCH /api/v1/app-connections/auth0/{connectionId}/users/{userId}`
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: ValidJson<UserPatch>,
) -> ApiResult<Json<Value>> {
    let Path((connection, user)) = path.map_err(|_| ApiError::NoRoute)?;
    let id = connection_id(&connection)?;
    let user_id = user_id(&user)?;
    let patch = body.value;
    patch.check()?;
    let fields = as_map(&patch)?;
    let password = patch.password.as_ref();
    if fields.is_empty() && password.is_none() {
        return Err(ApiError::field("", "name at least one field to change"));
    }
    let session = Session::open(&state, &caller, id).await?;
    let (auth0, domain, fields_ref) = (&state.auth0, &session.domain, &fields);
    let outcome = session
        .call(|token| async move {
            auth0
                .update_user(domain, &token, user_id, fields_ref, password)
                .await
        })
        .await;
    let metadata = json!({
        "userId": user_id,
        "fields": field_names(&fields, password.is_some()),
    });
    let user = session
        .finish("app_connection.user.update", metadata, outcome, USER)
        .await?;
    Ok(Json(json!({ "user": shown(user) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idp_tokens_and_unknown_fields_stay_out() {
        let user = json!({
            "user_id": "google-oauth2|1",
            "email": "a@b.co",
            "multifactor": ["guardian"],
            "identities": [{
                "connection": "google-oauth2", "provider": "google-oauth2", "user_id": 1,
                "isSocial": true, "access_token": "idp-token-canary", "refresh_token": "rt-canary"
            }],
            "user_metadata": { "plan": "pro" }
        });
        let Value::Object(map) = user else {
            panic!("object")
        };
        let out = shown(map).to_string();
        assert!(!out.contains("canary"), "{out}");
        assert!(!out.contains("multifactor"), "{out}");
        assert!(
            out.contains("\"plan\":\"pro\"") && out.contains("isSocial"),
            "{out}"
        );
    }

    #[test]
    fn passwords_are_neither_serialised_nor_printed() {
        let input: UserIn = serde_json::from_value(json!({
            "connection": "db", "email": "a@b.co", "password": "pw-canary-1A!"
        }))
        .expect("parse");
        assert!(!format!("{input:?}").contains("pw-canary"));
        let map = as_map(&input).expect("map");
        assert!(!Value::Object(map.clone()).to_string().contains("pw-canary"));
        assert_eq!(
            field_names(&map, true),
            vec!["connection", "email", "password"]
        );
    }

    #[test]
    fn patch_nulls_are_kept_and_absent_fields_dropped() {
        let patch: UserPatch = serde_json::from_value(json!({
            "given_name": null, "user_metadata": { "a": 1 }, "blocked": true
        }))
        .expect("parse");
        let map = as_map(&patch).expect("map");
        assert_eq!(
            Value::Object(map),
            json!({ "given_name": null, "user_metadata": { "a": 1 }, "blocked": true })
        );
    }

    #[test]
    fn checks_name_every_bad_field() {
        let input: UserIn = serde_json::from_value(json!({
            "connection": " ", "email": "not-an-email", "phone_number": "0123",
            "picture": "javascript:alert(1)", "user_metadata": { "a.b": 1 }, "password": ""
        }))
        .expect("parse");
        let Err(ApiError::Validation(errors)) = input.check() else {
            panic!("invalid input passed")
        };
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            vec![
                "connection",
                "email",
                "password",
                "phone_number",
                "picture",
                "user_metadata"
            ]
        );
        let both: UserPatch = serde_json::from_value(json!({
            "email": "a@b.co", "password": "Another1!"
        }))
        .expect("parse");
        assert!(both.check().is_err());
        assert!(user_id("auth0|abc").is_ok());
        assert!(user_id("").is_err() && user_id("a\nb").is_err());
        assert!(user_id("..").is_err() && user_id(".").is_err() && user_id("a.b").is_ok());
    }
}

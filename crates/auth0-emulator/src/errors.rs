//! Auth0's error bodies: the OAuth shape of the Authentication API (`/oauth/token`) and the
//! Boom shape of the Management API (`statusCode`, `error`, `message`, `errorCode`).
//!
//! Messages are Auth0's where they are known (see `shared/reference/auth0-and-peers.md`); where
//! Auth0 does not document one, the text is a plausible stand-in and says so in a comment.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::ratelimit::Decision;

/// A Management API error.
#[derive(Debug)]
pub(crate) struct MgmtError {
    status: StatusCode,
    message: String,
    error_code: Option<&'static str>,
    /// Auth0 repeats 401 messages under `attributes.error`.
    with_attributes: bool,
    rate: Option<Decision>,
}

pub(crate) type MgmtResult<T> = Result<T, MgmtError>;

impl MgmtError {
    fn new(
        status: StatusCode,
        message: impl Into<String>,
        error_code: Option<&'static str>,
    ) -> Self {
        MgmtError {
            status,
            message: message.into(),
            error_code,
            with_attributes: false,
            rate: None,
        }
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        MgmtError {
            with_attributes: true,
            ..Self::new(StatusCode::UNAUTHORIZED, message, None)
        }
    }

    /// Auth0 lists the scopes it would have accepted, comma-separated, no spaces.
    pub(crate) fn insufficient_scope(any_of: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Insufficient scope, expected any of: {}", any_of.join(",")),
            Some("insufficient_scope"),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, Some(code))
    }

    /// A request body that is not valid JSON or does not fit the schema.
    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        Self::bad_request(message, "invalid_body")
    }

    pub(crate) fn invalid_query(message: impl Into<String>) -> Self {
        Self::bad_request(message, "invalid_query_string")
    }

    pub(crate) fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message, Some(code))
    }

    pub(crate) fn conflict(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, message, Some(code))
    }

    pub(crate) fn too_many_requests(rate: Decision) -> Self {
        MgmtError {
            rate: Some(rate),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Global limit has been reached",
                Some("too_many_requests"),
            )
        }
    }

    /// An injected failure or an internal error: Auth0's generic body for the status.
    pub(crate) fn status(status: StatusCode) -> Self {
        let message = match status.as_u16() {
            503 => "Service Unavailable",
            429 => "Global limit has been reached",
            _ if status.is_server_error() => "Internal Server Error",
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        let code = (status == StatusCode::TOO_MANY_REQUESTS).then_some("too_many_requests");
        Self::new(status, message, code)
    }
}

impl IntoResponse for MgmtError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("statusCode".into(), json!(self.status.as_u16()));
        body.insert(
            "error".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("message".into(), json!(self.message));
        if let Some(code) = self.error_code {
            body.insert("errorCode".into(), json!(code));
        }
        if self.with_attributes {
            body.insert("attributes".into(), json!({ "error": self.message }));
        }
        let mut headers = HeaderMap::new();
        if let Some(rate) = self.rate {
            rate.write_headers(&mut headers);
        }
        (self.status, headers, Json(Value::Object(body))).into_response()
    }
}

/// An Authentication API (`/oauth/token`) error: `{error, error_description[, error_uri]}`.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    error_uri: Option<&'static str>,
    rate: Option<Decision>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            error_uri: None,
            rate: None,
        }
    }

    /// Wrong secret and unknown client look the same, so ids cannot be probed.
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
    }

    /// A refused client assertion or client authentication method (RFC 6749 §5.2).
    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(crate) fn forbidden_access_denied(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "access_denied", description)
    }

    pub(crate) fn no_grant(audience: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!(
                "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
            ),
        )
    }

    pub(crate) fn unknown_audience(audience: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("Service not enabled within domain: {audience}"),
        )
    }

    pub(crate) fn grant_type_not_allowed(grant_type: &str) -> Self {
        OAuthError {
            error_uri: Some("https://auth0.com/docs/clients/client-grant-types"),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "unauthorized_client",
                format!("Grant type '{grant_type}' not allowed for the client."),
            )
        }
    }

    pub(crate) fn unsupported_grant_type(grant_type: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "unsupported_grant_type",
            format!("Unsupported grant type: {grant_type}"),
        )
    }

    /// A requested scope the grant does not carry (Auth0 refuses rather than narrowing).
    pub(crate) fn scopes_not_granted(scopes: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("Client has not been granted scopes: {}", scopes.join(" ")),
        )
    }

    pub(crate) fn too_many_requests(rate: Decision) -> Self {
        OAuthError {
            rate: Some(rate),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Global limit has been reached",
            )
        }
    }

    pub(crate) fn status(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::new(status, "too_many_requests", "Global limit has been reached"),
            503 => Self::new(status, "temporarily_unavailable", "Service Unavailable"),
            s if s >= 500 => Self::new(status, "server_error", "Internal Server Error"),
            _ => Self::new(
                status,
                "invalid_request",
                status.canonical_reason().unwrap_or("Error"),
            ),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), json!(self.error));
        body.insert("error_description".into(), json!(self.description));
        if let Some(uri) = self.error_uri {
            body.insert("error_uri".into(), json!(uri));
        }
        let mut headers = HeaderMap::new();
        if let Some(rate) = self.rate {
            rate.write_headers(&mut headers);
        }
        (self.status, headers, Json(Value::Object(body))).into_response()
    }
}

/// The answer for a `Host` that is no tenant of ours. Auth0 answers unknown tenant hosts with a
/// 404; its exact body is not documented, so this uses the Management API's Boom shape with an
/// explicit message (a client can tell "wrong domain" apart from "unknown client").
pub(crate) fn unknown_tenant(host: &str) -> Response {
    let body = json!({
        "statusCode": 404,
        "error": "Not Found",
        "message": format!("Tenant \"{host}\" not found"),
        "errorCode": "inexistent_tenant"
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

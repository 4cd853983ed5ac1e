//! The one place errors become HTTP: every failure is an RFC 9457 `application/problem+json` body
//! with a stable `type`, a safe `detail`, field errors where input was at fault, and the request id.
//! `into_response` only attaches the problem to the response; `problem::finish` (a middleware inside
//! the trace span) adds the request id, writes the body and logs internal causes, so handlers never log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One input field at fault. `field` is a dotted path (`credentials.domain`), `pointer` its JSON Pointer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let pointer = if field.is_empty() {
            String::new()
        } else {
            format!(
                "/{}",
                field
                    .replace('~', "~0")
                    .replace('/', "~1")
                    .replace('.', "/")
            )
        };
        FieldError {
            field,
            pointer,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("malformed request: {detail}")]
    BadRequest {
        detail: String,
        field: Option<String>,
    },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body did not arrive in full within the body-read deadline (see `body_deadline`).
    #[error("request body not received in time")]
    RequestTimeout { limit_ms: u64 },
    #[error("authentication required")]
    Unauthenticated,
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },
    #[error("too many requests")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{what} not found")]
    NotFound {
        what: &'static str,
        field: Option<&'static str>,
    },
    #[error("route not found")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        field: Option<&'static str>,
    },
    #[error("precondition failed: current version is {current}")]
    PreconditionFailed { current: i64 },
    /// Auth0 refused the credentials; `detail` is Auth0's reason in our words, never the secret.
    #[error("Auth0 rejected the credentials: {detail}")]
    Auth0Rejected { detail: String, field: &'static str },
    /// The connection's Auth0 application lacks a Management API scope the call needs.
    #[error("Auth0 scope missing: {detail}")]
    Auth0MissingScope {
        detail: String,
        missing_scopes: Vec<String>,
    },
    /// Auth0 refused a request made through a connection as invalid (its 4xx other than 401,
    /// 403 scope, 404, 409 and 429); `detail` carries Auth0's words.
    #[error("Auth0 refused the request: {detail}")]
    Auth0Refused { detail: String },
    /// Auth0 could not be reached or answered with an error that is not the caller's fault.
    #[error("Auth0 unavailable: {detail}")]
    Upstream {
        status: StatusCode,
        detail: String,
        retry_after_secs: Option<u64>,
    },
    #[error("service unavailable: {cause}")]
    Unavailable { cause: String },
    /// A bug or an unexpected failure. `cause` is logged, never sent.
    #[error("internal error: {cause}")]
    Internal { cause: String },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal {
            cause: cause.to_string(),
        }
    }

    /// A write fenced on the version read at the start of the request found another version.
    /// With `If-Match` the client's precondition failed (412, from `otherwise`); without it,
    /// someone changed the `what` while this request ran, and a retry will do (409).
    pub fn fenced(
        err: store::Error,
        if_match: Option<i64>,
        what: &str,
        otherwise: impl FnOnce(store::Error) -> ApiError,
    ) -> ApiError {
        match err {
            store::Error::VersionMismatch { current } if if_match.is_none() => ApiError::Conflict {
                detail: format!(
                    "the {what} changed while this update ran (now version {current}); retry"
                ),
                field: None,
            },
            other => otherwise(other),
        }
    }

    pub fn field(field: &str, detail: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, detail)])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::Auth0Rejected { .. }
            | ApiError::Auth0Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Auth0MissingScope { .. } => StatusCode::FORBIDDEN,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound { .. } | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::Upstream { status, .. } => *status,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable word for this kind of failure: the end of the problem's `type`
    /// (`urn:keyhold:problem:{slug}`), and the `error` an audit row of a failed call records.
    /// One table, so an audit row and the answer it records always say the same thing.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation",
            ApiError::BadRequest { .. } => "malformed-request",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::PayloadTooLarge => "payload-too-large",
            ApiError::RequestTimeout { .. } => "request-timeout",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::NotFound { .. } | ApiError::NoRoute => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::PreconditionFailed { .. } => "precondition-failed",
            ApiError::Auth0Rejected { .. } => "auth0-rejected",
            ApiError::Auth0MissingScope { .. } => "auth0-missing-scope",
            ApiError::Auth0Refused { .. } => "auth0-refused",
            ApiError::Upstream { .. } => "auth0-unavailable",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal { .. } => "internal",
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let (title, detail, errors) = match self {
            ApiError::Validation(errors) => (
                "Request validation failed",
                summarize(errors),
                errors.clone(),
            ),
            ApiError::BadRequest { detail, field } => (
                "Malformed request",
                detail.clone(),
                field
                    .iter()
                    .map(|f| FieldError::new(f.clone(), detail.clone()))
                    .collect(),
            ),
            ApiError::UnsupportedMediaType => (
                "Unsupported media type",
                "send the body as JSON with `Content-Type: application/json`".to_owned(),
                vec![],
            ),
            ApiError::PayloadTooLarge => (
                "Request body too large",
                format!(
                    "the request body is larger than {} bytes",
                    crate::BODY_LIMIT_BYTES
                ),
                vec![],
            ),
            ApiError::RequestTimeout { limit_ms } => (
                "Request timeout",
                if limit_ms % 1000 == 0 {
                    format!("the request body did not arrive within {} seconds", limit_ms / 1000)
                } else {
                    format!("the request body did not arrive within {limit_ms} ms")
                },
                vec![],
            ),
            ApiError::Unauthenticated => (
                "Authentication required",
                "send a valid access token as `Authorization: Bearer <token>` (log in at /api/v1/auth/...)".to_owned(),
                vec![],
            ),
            ApiError::Forbidden { detail } => ("Forbidden", detail.clone(), vec![]),
            ApiError::TooManyRequests { detail, .. } => ("Too many requests", detail.clone(), vec![]),
            ApiError::NotFound { what, field } => (
                "Not found",
                format!("{what} not found"),
                field
                    .iter()
                    .map(|f| FieldError::new(*f, format!("{what} not found")))
                    .collect(),
            ),
            ApiError::NoRoute => ("Not found", "no such route".to_owned(), vec![]),
            ApiError::MethodNotAllowed => (
                "Method not allowed",
                "this route does not accept that method".to_owned(),
                vec![],
            ),
            ApiError::Conflict { detail, field } => (
                "Conflict",
                detail.clone(),
                field
                    .iter()
                    .map(|f| FieldError::new(*f, detail.clone()))
                    .collect(),
            ),
            ApiError::PreconditionFailed { current } => (
                "Precondition failed",
                format!(
                    "If-Match does not match the current version ({current}); fetch it again and retry"
                ),
                vec![],
            ),
            ApiError::Auth0Rejected { detail, field } => (
                "Auth0 rejected the credentials",
                detail.clone(),
                vec![FieldError::new(*field, detail.clone())],
            ),
            ApiError::Auth0MissingScope { detail, .. } => (
                "Auth0 scope missing",
                detail.clone(),
                vec![],
            ),
            ApiError::Auth0Refused { detail } => (
                "Auth0 refused the request",
                detail.clone(),
                vec![],
            ),
            ApiError::Upstream { detail, .. } => (
                "Auth0 unavailable",
                detail.clone(),
                vec![],
            ),
            ApiError::Unavailable { .. } => (
                "Service unavailable",
                "the database is unavailable; retry shortly".to_owned(),
                vec![],
            ),
            ApiError::Internal { .. } => (
                "Internal error",
                "something went wrong on our side; quote the requestId when reporting it"
                    .to_owned(),
                vec![],
            ),
        };
        Problem {
            kind: format!("urn:keyhold:problem:{}", self.slug()),
            title,
            status: status.as_u16(),
            message: detail.clone(),
            status_code: status.as_u16(),
            error: status
                .canonical_reason()
                .unwrap_or("Error")
                .replace([' ', '-'], ""),
            detail,
            request_id: None,
            errors,
            current_version: match self {
                ApiError::PreconditionFailed { current } => Some(*current),
                _ => None,
            },
            missing_scopes: match self {
                ApiError::Auth0MissingScope { missing_scopes, .. } => missing_scopes.clone(),
                _ => Vec::new(),
            },
            // Internal causes are for the log only.
            log_cause: match self {
                ApiError::Internal { cause } | ApiError::Unavailable { cause } => {
                    Some(cause.clone())
                }
                _ => None,
            },
        }
    }
}

fn summarize(errors: &[FieldError]) -> String {
    match errors {
        [one] if one.field.is_empty() => one.detail.clone(),
        [one] => format!("{}: {}", one.field, one.detail),
        many => format!("{} fields are invalid", many.len()),
    }
}

/// The body, kept typed in the response's extensions until `finish` adds the request id.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Infisical's error members, so its SDKs and tools show the reason instead of "Unknown
    /// error": `message` repeats `detail`, `statusCode` the status, `error` names the status
    /// (`NotFound`, `UnprocessableEntity`, ...). RFC 9457 allows such extension members.
    pub message: String,
    pub status_code: u16,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// On `auth0-missing-scope`: the scopes Auth0 named (any one of them is enough).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_scopes: Vec<String>,
    #[serde(skip)]
    pub log_cause: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        match &self {
            ApiError::Upstream {
                retry_after_secs: Some(secs),
                ..
            }
            | ApiError::TooManyRequests {
                retry_after_secs: secs,
                ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            ApiError::Unauthenticated => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response.extensions_mut().insert(self.problem());
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        store::Error::from(err).into()
    }
}

impl From<store::Error> for ApiError {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::NotFound => ApiError::NotFound {
                what: "resource",
                field: None,
            },
            store::Error::Unavailable(e) => ApiError::Unavailable {
                cause: e.to_string(),
            },
            store::Error::VersionMismatch { current } => ApiError::PreconditionFailed { current },
            other => ApiError::internal(other),
        }
    }
}

/// Middleware: renders problems attached by `into_response` (and axum's bare 405s) with the request
/// id, and logs what went wrong inside the request's span.
pub async fn finish(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_id = request
        .headers()
        .get(crate::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if response.status() == StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::MethodNotAllowed.problem()
        }
        // The request timeout answers a bare 503 (no body, no content type).
        None if response.status() == StatusCode::SERVICE_UNAVAILABLE
            && !response.headers().contains_key(header::CONTENT_TYPE) =>
        {
            ApiError::Unavailable {
                cause: "the request timed out".to_owned(),
            }
            .problem()
        }
        None => return response,
    };
    let mut problem = problem;
    problem.request_id = request_id;
    if let Some(cause) = &problem.log_cause {
        tracing::error!(status = problem.status, %cause, "request failed");
    } else {
        tracing::debug!(status = problem.status, kind = %problem.kind, "request refused");
    }
    let body = match serde_json::to_vec(&problem) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(%err, "could not serialise a problem body");
            b"{\"type\":\"urn:keyhold:problem:internal\",\"status\":500,\"statusCode\":500}"
                .to_vec()
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

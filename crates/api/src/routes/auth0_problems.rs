//! The one place Auth0's failures (`auth0::Auth0Error`, and `broker::Error`, which carries them)
//! become problems. Where a failure happened decides what the caller must change, so there is one
//! mapping per situation, all here:
//!
//! - [`credentials`]: Auth0 refused credentials a connection is being created or updated with;
//!   the problem names the credentials field to fix.
//! - [`CallError::problem`]: a Management API call made through a stored connection failed; Auth0's
//!   own meanings are kept (404, 409, 400 → 422, a missing scope → 403, 429 → 429).
//! - [`client_lookup`] and [`broker`]: a rotation checks its target application, or revokes its
//!   generated secrets, through the broker.

use std::time::Duration;

use auth0::Auth0Error;
use axum::http::StatusCode;

use crate::problem::ApiError;

/// Auth0's refusal of the credentials being checked, pointed at the field the user has to change.
pub fn credentials(err: Auth0Error) -> ApiError {
    let detail = err.reason();
    let rejected = |field| ApiError::Auth0Rejected {
        detail: detail.clone(),
        field,
    };
    match err {
        Auth0Error::WrongCredentials => rejected("credentials.clientSecret"),
        // A private-key-jwt connection: the key is not (or no longer) registered and enabled for
        // the client, or Auth0 refused the assertion for a reason it names.
        Auth0Error::AssertionRejected { .. } => ApiError::Auth0Rejected {
            detail: format!(
                "{detail}; the connection's publicKey must be registered as a credential of the client in Auth0 with Private Key JWT enabled"
            ),
            field: "credentials.clientId",
        },
        Auth0Error::NoGrantForAudience { .. } | Auth0Error::UnknownAudience { .. } => {
            rejected("credentials.audience")
        }
        Auth0Error::GrantTypeNotAllowed => rejected("credentials.clientId"),
        Auth0Error::UnknownTenant | Auth0Error::CustomDomain { .. } => {
            rejected("credentials.domain")
        }
        Auth0Error::BlockedAddress { .. } => ApiError::field("credentials.domain", detail),
        Auth0Error::Upstream { status, .. } if (400..500).contains(&status) => {
            rejected("credentials")
        }
        Auth0Error::Timeout => ApiError::Upstream {
            status: StatusCode::GATEWAY_TIMEOUT,
            detail,
            retry_after_secs: None,
        },
        Auth0Error::RateLimited { retry_after } => ApiError::Upstream {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail,
            retry_after_secs: Some(retry_after.map_or(1, |d| d.as_secs().max(1))),
        },
        Auth0Error::Config { .. } => ApiError::internal(detail),
        _ => ApiError::Upstream {
            status: StatusCode::BAD_GATEWAY,
            detail,
            retry_after_secs: None,
        },
    }
}

/// What an Auth0 404 means for the call that got it, as our `NotFound`.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub what: &'static str,
    pub field: Option<&'static str>,
}

/// Why a call through a connection failed, before the route says what a 404 means.
#[derive(Debug)]
pub enum CallError {
    /// Auth0 refused or could not be reached.
    Auth0(Auth0Error),
    /// Already a problem (pacing refused, database down, a secret that cannot be opened).
    Api(ApiError),
}

impl From<ApiError> for CallError {
    fn from(err: ApiError) -> Self {
        CallError::Api(err)
    }
}

impl From<broker::Error> for CallError {
    /// The broker's failures while serving a call: Auth0's are judged as the call's own.
    fn from(err: broker::Error) -> Self {
        match err {
            broker::Error::Auth0(err) => CallError::Auth0(err),
            broker::Error::Store(err) => CallError::Api(err.into()),
            other => CallError::Api(ApiError::internal(other)),
        }
    }
}

impl CallError {
    /// The problem for this failure. Auth0's own meanings are kept: 404 → 404, 409 → 409, 400 →
    /// 422, a missing scope → 403 naming it, 429 → 429 with `Retry-After`.
    pub fn problem(self, subject: Subject) -> ApiError {
        let err = match self {
            CallError::Api(err) => return err,
            CallError::Auth0(err) => err,
        };
        match err {
            Auth0Error::MissingScope { ref needed } => ApiError::Auth0MissingScope {
                missing_scopes: needed.clone(),
                detail: err.reason(),
            },
            Auth0Error::ClientNotFound { .. } | Auth0Error::Upstream { status: 404, .. } => {
                ApiError::NotFound {
                    what: subject.what,
                    field: subject.field,
                }
            }
            Auth0Error::Upstream {
                status: 409,
                ref description,
                ..
            } => ApiError::Conflict {
                detail: format!("Auth0 refused it as a conflict: {description}"),
                field: None,
            },
            Auth0Error::Upstream {
                status: 400..=499,
                ref description,
                ref error,
                ..
            } => ApiError::Auth0Refused {
                detail: if description.is_empty() {
                    format!("Auth0 refused the request ({error})")
                } else {
                    format!("Auth0 refused the request: {description}")
                },
            },
            Auth0Error::RateLimited { retry_after } => ApiError::TooManyRequests {
                detail: format!(
                    "{}; Keyhold paces this tenant and will queue the next calls",
                    err.reason()
                ),
                retry_after_secs: whole_seconds(retry_after.unwrap_or(Duration::from_secs(1))),
            },
            Auth0Error::TokenRejected => ApiError::Upstream {
                status: StatusCode::BAD_GATEWAY,
                detail: "Auth0 refused a freshly issued Management API token; try again later"
                    .to_owned(),
                retry_after_secs: None,
            },
            // Token-endpoint refusals (the stored credentials stopped working, a custom domain)
            // and transport failures read as they do when a connection is created.
            other => credentials(other),
        }
    }
}

/// A wait as `Retry-After` seconds: rounded up, and at least one (the header has no fractions).
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// Auth0's answer to "can this connection see that application" (a rotation's target), as the
/// field to fix: the client ID, or the connection that lacks the scope to look.
pub fn client_lookup(err: broker::Error) -> ApiError {
    match err {
        broker::Error::Auth0(Auth0Error::ClientNotFound { .. }) => ApiError::Auth0Rejected {
            detail: "Auth0 has no application with this client ID in the connection's tenant"
                .to_owned(),
            field: "parameters.clientId",
        },
        broker::Error::Auth0(err @ Auth0Error::MissingScope { .. }) => ApiError::Auth0Rejected {
            detail: format!(
                "{}; grant it to the connection's application in Auth0",
                err.reason()
            ),
            field: "connectionId",
        },
        other => broker(other),
    }
}

/// Any other broker failure on a rotation's behalf (revoking its generated secrets).
pub fn broker(err: broker::Error) -> ApiError {
    match err {
        broker::Error::Store(err) => err.into(),
        broker::Error::Auth0(err) => credentials(err),
        broker::Error::RevokeOwnClient => ApiError::field(
            "revokeGeneratedCredentials",
            broker::Error::RevokeOwnClient.to_string(),
        ),
        other => ApiError::internal(other),
    }
}

//! The vocabulary of one attempt, shared by the engine that performs its steps and the failure
//! handling that follows a stop: the attempt being worked on ([`AttemptCtx`]), why a step stopped
//! ([`Cause`]), the stop itself ([`Stop`]) and the audit event an attempt ends with. Depends on
//! neither side.

use std::time::Duration;

use auth0::Auth0Error;
use broker::rotation_secrets::WrittenSecret;
use crypto::SecretString;
use store::rotations::mapping::Mapping;
use store::rotations::{Attempt, AttemptStep, Rotation};

use crate::planner::Step;

/// The attempt being worked on, once it exists.
pub(crate) struct AttemptCtx {
    pub(crate) attempt: Attempt,
    /// `None` when the pending secret was issued for another tenant or client than the rotation
    /// now names: it is not opened, and the attempt fails keeping it for recovery.
    pub(crate) secret: Option<SecretString>,
    /// Auth0 may have received the pending secret (an earlier try, or a `PATCH` this try sent
    /// that was not refused outright). Decides whether a final failure keeps it as `abandoned`.
    pub(crate) maybe_applied: bool,
}

impl AttemptCtx {
    pub(crate) fn secret(&self) -> Result<&SecretString, Cause> {
        self.secret.as_ref().ok_or_else(|| {
            Cause::Invalid("the pending secret was issued for another tenant or client".into())
        })
    }
}

/// Why a step stopped.
pub(crate) enum Cause {
    /// From a Management API call (`mgmt`) or the token endpoint.
    Auth0 {
        err: Auth0Error,
        mgmt: bool,
    },
    /// Getting the connection's own token failed.
    ConnectionAuth(Auth0Error),
    /// Auth0 kept refusing the new secret for the whole propagation window.
    NotAccepted(Duration),
    Store(store::Error),
    /// A stored secret cannot be opened (root key missing or changed) or sealed.
    Crypto(crypto::CryptoError),
    Invalid(String),
    /// Auth0 accepted the new secret, but writing it into the rotation's mapped secrets was
    /// refused; the finish was rolled back (nothing recorded) and the attempt keeps its secret.
    SecretsNotWritten(broker::Error),
    LeaseLost,
}

impl From<store::Error> for Cause {
    fn from(err: store::Error) -> Self {
        Cause::Store(err)
    }
}

impl From<crypto::CryptoError> for Cause {
    fn from(err: crypto::CryptoError) -> Self {
        Cause::Crypto(err)
    }
}

impl From<sqlx::Error> for Cause {
    fn from(err: sqlx::Error) -> Self {
        Cause::Store(err.into())
    }
}

/// Errors from the broker while obtaining the connection's token or opening a secret.
impl From<broker::Error> for Cause {
    fn from(err: broker::Error) -> Self {
        match err {
            broker::Error::Auth0(err) => Cause::ConnectionAuth(err),
            broker::Error::Store(err) => Cause::Store(err),
            broker::Error::Crypto(err) => Cause::Crypto(err),
            other => Cause::Invalid(other.to_string()),
        }
    }
}

impl Cause {
    /// What happened and what to fix, for `last_rotation_message`. Never a secret.
    pub(crate) fn reason(&self) -> String {
        match self {
            Cause::Auth0 { err, .. } => err.reason(),
            Cause::ConnectionAuth(Auth0Error::WrongCredentials) => {
                "Auth0 rejected the connection's client credentials: update the connection's client secret (or client ID)".to_owned()
            }
            Cause::ConnectionAuth(err) => {
                format!("the connection could not get a Management API token: {}", err.reason())
            }
            Cause::NotAccepted(waited) => format!(
                "Auth0 accepted the new secret but kept refusing it for {} s (propagation, or someone replaced it since); it will be tested again",
                waited.as_secs()
            ),
            Cause::Store(err) => format!("database error: {err}"),
            Cause::Crypto(err) => format!(
                "a stored secret cannot be opened ({err}): check that KEYHOLD_ROOT_KEYS still holds the key it was sealed with"
            ),
            Cause::Invalid(why) => why.clone(),
            Cause::SecretsNotWritten(err) => format!(
                "Auth0 accepted the new secret, but writing it into the rotation's mapped secrets failed ({err}); nothing was recorded, and finishing is retried with the same secret"
            ),
            Cause::LeaseLost => "the lease was lost to another worker".to_owned(),
        }
    }
}

/// A step that stopped: which, and why.
pub(crate) struct Stop {
    pub(crate) step: Step,
    pub(crate) cause: Cause,
}

impl Stop {
    pub(crate) fn at(step: Step, cause: Cause) -> Stop {
        Stop { step, cause }
    }

    /// The durable step to record: the last one done before the step that stopped, where a
    /// retry resumes ([`crate::planner::next_step`]).
    pub(crate) fn resume_from(&self) -> AttemptStep {
        self.step.last_done_before()
    }
}

/// `result.stop_at(Step::Set)?`: an error from a step becomes a [`Stop`] of that step.
pub(crate) trait StopAt<T> {
    fn stop_at(self, step: Step) -> Result<T, Stop>;
}

impl<T, E: Into<Cause>> StopAt<T> for Result<T, E> {
    fn stop_at(self, step: Step) -> Result<T, Stop> {
        self.map_err(|err| Stop::at(step, err.into()))
    }
}

/// The audit event an attempt ends with (`success` or `failure`), attributed to the worker.
pub(crate) fn audit_event(
    worker_id: &str,
    rotation: &Rotation,
    attempt: &Attempt,
    outcome: &str,
    metadata: serde_json::Value,
) -> store::audit::NewEvent {
    let mut metadata = metadata;
    if let Some(map) = metadata.as_object_mut() {
        map.insert("worker".into(), worker_id.to_owned().into());
        map.insert("attemptId".into(), attempt.id.to_string().into());
    }
    store::audit::NewEvent {
        org_id: Some(rotation.org_id),
        project_id: Some(rotation.project_id),
        actor_id: None,
        actor_kind: "system".to_owned(),
        action: "secret_rotation.rotate".to_owned(),
        resource_type: "secret_rotation".to_owned(),
        resource_id: Some(rotation.id.to_string()),
        outcome: outcome.to_owned(),
        request_id: None,
        source_ip: None,
        metadata,
    }
}

/// The audit row of one secret a finishing rotation wrote (never its value): attributed to the
/// worker, naming the rotation, so the secret's history says who wrote each version.
pub(crate) fn secret_written_event(
    worker_id: &str,
    rotation: &Rotation,
    mapping: &Mapping,
    secret: &WrittenSecret,
) -> store::audit::NewEvent {
    store::audit::NewEvent {
        org_id: Some(rotation.org_id),
        project_id: Some(rotation.project_id),
        actor_id: None,
        actor_kind: "system".to_owned(),
        action: if secret.created {
            "secret.create"
        } else {
            "secret.update"
        }
        .to_owned(),
        resource_type: "secret".to_owned(),
        resource_id: Some(secret.id.to_string()),
        outcome: "success".to_owned(),
        request_id: None,
        source_ip: None,
        metadata: serde_json::json!({
            "key": secret.key,
            "environment": mapping.environment_slug,
            "secretPath": mapping.folder_path,
            "version": secret.version,
            "writtenBy": "secret-rotation",
            "rotationId": rotation.id,
            "rotationName": rotation.name,
            "role": secret.role,
            "worker": worker_id,
        }),
    }
}

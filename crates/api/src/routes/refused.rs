//! Refused creates in the audit log: a create of a connection or a rotation that the API answers
//! 422 (validation, or Auth0 refusing the credentials) or 409 (conflict) leaves a `failure` row
//! naming each field at fault and the rule it broke. Never a submitted value: field errors and
//! conflicts state rules ("must be 1 to 64 characters", "a connection with this name already
//! exists"), not what was sent. Only for callers who are members of the project named in the
//! request, so nobody writes into the log of a project they are not in.

use serde_json::json;
use store::ProjectId;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::problem::ApiError;

/// Records `err` as a refused `action` when it is a refusal worth recording; best effort (a
/// failure to record is logged, and the caller still gets the original answer).
pub async fn record(
    state: &AppState,
    caller: &Caller,
    action: &str,
    resource_type: &str,
    project: &str,
    err: &ApiError,
) {
    let (status, errors) = match err {
        ApiError::Validation(errors) => (
            422,
            errors
                .iter()
                .map(|e| json!({ "field": e.field, "rule": e.detail }))
                .collect::<Vec<_>>(),
        ),
        ApiError::Conflict { detail, field } => {
            (409, vec![json!({ "field": field, "rule": detail })])
        }
        // Auth0 refused the credentials: its reason in our words, never the secret it was sent.
        ApiError::Auth0Rejected { detail, field } => {
            (422, vec![json!({ "field": field, "rule": detail })])
        }
        _ => return,
    };
    let Ok(project) = Uuid::parse_str(project.trim()).map(ProjectId) else {
        return;
    };
    if caller.role_in(project).is_none() {
        return;
    }
    let mut event = caller.event(
        action,
        resource_type,
        "",
        Some(project),
        json!({ "status": status, "errors": errors }),
    );
    event.resource_id = None;
    event.outcome = "failure".to_owned();
    let recorded = async {
        let mut conn = state.db.acquire().await.map_err(store::Error::from)?;
        store::audit::record(&mut conn, &event).await
    };
    if let Err(error) = recorded.await {
        tracing::warn!(%error, action, "could not record a refused attempt in the audit log");
    }
}

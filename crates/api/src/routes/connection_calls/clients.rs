//! `GET /api/v1/app-connections/auth0/{connectionId}/clients`: the tenant's applications, for
//! pickers such as the rotation form.

use auth0::ClientQuery;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use store::ConnectionId;

use super::session::Session;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::PathId;
use crate::problem::ApiResult;
use crate::routes::auth0_problems::{CallError, Subject};

pub(super) const APPLICATIONS: Subject = Subject {
    what: "Auth0 application",
    field: None,
};

/// Every application of the tenant (all of Auth0's pages).
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let session = Session::open(&state, &caller, ConnectionId(id)).await?;
    let outcome = list_all(&session).await;
    let count = outcome.as_ref().map_or(0, Vec::len);
    let clients = session
        .finish_read(
            "app_connection.clients.list",
            json!({ "count": count }),
            outcome,
            APPLICATIONS,
        )
        .await?;
    Ok(Json(json!({ "clients": clients })))
}

async fn list_all(session: &Session<'_>) -> Result<Vec<Value>, CallError> {
    let auth0 = &session.state.auth0;
    let domain = &session.domain;
    let mut clients = Vec::new();
    let mut page = Some(0);
    while let Some(number) = page {
        let got = session
            .call(|token| async move {
                auth0
                    .list_clients_page(domain, &token, number, ClientQuery::SUMMARY)
                    .await
            })
            .await?;
        clients.extend(got.clients.into_iter().map(|c| {
            json!({
                "clientId": c.client_id,
                "name": c.name.unwrap_or_default(),
                "appType": c.app_type,
            })
        }));
        page = got.next_page;
    }
    Ok(clients)
}

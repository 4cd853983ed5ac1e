//! The Management API (`/api/v2/...`): routes, and the request-input helpers they share.
//! Each resource module owns its handlers; `auth` owns the bearer check; `auth_methods` owns
//! `client_authentication_methods` (Private Key JWT enablement) inside the client PATCH.

pub(crate) mod auth;
mod auth_methods;
mod clients;
mod credentials;
pub(crate) mod input;
mod resource_servers;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::EmulatorState;

pub(crate) fn routes() -> Router<Arc<EmulatorState>> {
    Router::new()
        .route("/api/v2/clients", get(clients::list).post(clients::create))
        .route(
            "/api/v2/clients/{id}",
            get(clients::get_one).patch(clients::patch),
        )
        .route(
            "/api/v2/clients/{id}/rotate-secret",
            post(clients::rotate_secret),
        )
        .route(
            "/api/v2/clients/{id}/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/api/v2/clients/{id}/credentials/{credential_id}",
            get(credentials::get_one)
                .patch(credentials::patch)
                .delete(credentials::delete),
        )
        .route(
            "/api/v2/resource-servers",
            get(resource_servers::list).post(resource_servers::create),
        )
        .route("/api/v2/client-grants", get(resource_servers::list_grants))
        .route("/api/v2/users", post(users::create))
        .route(
            "/api/v2/users/{id}",
            get(users::get_one).patch(users::patch),
        )
}

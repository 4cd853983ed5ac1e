//! Calls made to Auth0 through a stored connection, under
//! `/api/v1/app-connections/auth0/{connectionId}/...`: the tenant's applications, its users, Token
//! Vault set-up and a fresh check of what the connection's scopes allow. The connection itself
//! (create, read, update, delete) is `routes::connections`.
//!
//! Every call goes through a [`session::Session`]: loaded for a project member, the broker's
//! cached token, the tenant's pacing, and an audit row per call. Auth0's failures become problems
//! in `routes::auth0_problems`.

pub mod capabilities;
mod clients;
pub(crate) mod session;
mod token_vault;
pub mod users;
mod validate;

use crate::routes::table::Routes;

pub fn routes() -> Routes {
    Routes::default()
        .get(
            "/api/v1/app-connections/auth0/{connectionId}/clients",
            clients::list,
        )
        .post(
            "/api/v1/app-connections/auth0/{connectionId}/validate",
            validate::validate,
        )
        .post(
            "/api/v1/app-connections/auth0/{connectionId}/users",
            users::create,
        )
        .get(
            "/api/v1/app-connections/auth0/{connectionId}/users/{userId}",
            users::get,
        )
        .patch(
            "/api/v1/app-connections/auth0/{connectionId}/users/{userId}",
            users::update,
        )
        .post(
            "/api/v1/app-connections/auth0/{connectionId}/token-vault/refresh-token-exchange",
            token_vault::refresh_token_exchange,
        )
        .post(
            "/api/v1/app-connections/auth0/{connectionId}/token-vault/access-token-exchange",
            token_vault::access_token_exchange,
        )
}

//! One module per resource; each owns its routes, DTOs and handlers.

pub mod audit_logs;
pub mod audit_streams;
pub mod auth;
pub mod auth0_problems;
pub mod connection_calls;
pub mod connections;
pub mod fields;
pub mod health;
pub mod identities;
pub mod memberships;
pub mod projects;
pub mod refused;
pub mod rotations;
pub mod secrets;
pub mod table;
pub mod unique;
pub mod webhooks;

use serde::Deserialize;

use crate::problem::{ApiError, ApiResult};

/// `limit` and `cursor` as every list takes them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 500;

/// Lists count their matches up to this many (`totalCount`), `null` past it: an exact count of a
/// huge project would cost a scan on every page.
pub const COUNT_CAP: u32 = 10_000;

pub fn page_request(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> ApiResult<store::page::PageRequest> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let after = match cursor {
        None | Some("") => None,
        Some(raw) => Some(
            store::page::Cursor::decode(raw)
                .map_err(|_| ApiError::field("cursor", "is not a cursor this server issued"))?,
        ),
    };
    Ok(store::page::PageRequest { limit, after })
}

/// Every route of the API, in one table (see `table`).
pub fn all() -> table::Routes {
    table::Routes::default()
        .get("/healthz", health::healthz)
        .get("/readyz", health::readyz)
        .get("/metrics", crate::metrics::render)
        .merge(auth::routes())
        .merge(identities::routes())
        .merge(projects::routes())
        .merge(memberships::routes())
        .merge(connections::routes())
        .merge(connection_calls::routes())
        .merge(rotations::routes())
        .merge(audit_logs::routes())
        .merge(audit_streams::routes())
        .merge(secrets::routes())
        .merge(webhooks::routes())
}

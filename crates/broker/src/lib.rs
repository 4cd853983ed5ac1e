//! Everything Keyhold does on a stored connection's behalf, shared by the API and the rotation
//! worker of one process:
//!
//! - [`aad`]: what a sealed Auth0 secret is bound to — its row, and the tenant, client and
//!   project it was issued for. The one rule every seal and every open uses.
//! - [`Broker`] (`access`): opening those secrets for the destination they are sent to, the
//!   per-connection Management API token cache (single-flight), and the Auth0 calls the API makes
//!   outside rotations.
//! - [`pacer`]: per-tenant pacing of Management API calls with a budget shared through Postgres.
//! - [`reseal`]: the one-time re-seal of secrets stored before bindings existed.
//!
//! Build one [`Broker`] per process ([`Broker::new`]) and hand clones to the API and the worker,
//! so both use one token cache and one pacer.

pub mod aad;
mod access;
mod error;
pub mod pacer;
pub mod reseal;
pub mod webhooks;

pub use crate::aad::Destination;
pub use crate::access::Broker;
pub use crate::error::{Error, Result};
pub use crate::pacer::{Admission, Pacer, TenantRate};

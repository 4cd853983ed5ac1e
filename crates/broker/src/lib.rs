//! Everything Keyhold does on a stored connection's behalf, shared by the API and the rotation
//! worker of one process:
//!
//! - [`aad`]: what a sealed Auth0 secret is bound to — its row, and the tenant, client and
//!   project it was issued for. The one rule every seal and every open uses.
//! - [`Broker`] (`access`): opening those secrets for the destination they are sent to (or, for a
//!   `private-key-jwt` connection, its private key to sign a client assertion), the
//!   per-connection Management API token cache (single-flight), and the Auth0 calls the API makes
//!   outside rotations.
//! - `alerts`: `app-connection.credentials-rejected` webhook events when Auth0 refuses a
//!   connection's own secret (deduplicated per connection version and hour).
//! - [`pacer`]: per-tenant pacing of Management API calls with a budget shared through Postgres.
//! - [`reseal`]: the one-time re-seal of secrets stored before bindings existed.
//! - [`rotation_secrets`]: a finished rotation's credentials written into the secrets it maps.
//!
//! Build one [`Broker`] per process ([`Broker::new`]) and hand clones to the API and the worker,
//! so both use one token cache and one pacer.

pub mod aad;
mod access;
mod alerts;
pub mod audit_streams;
mod error;
pub mod pacer;
pub mod reseal;
pub mod rotation_secrets;
pub mod webhooks;

pub use crate::aad::Destination;
pub use crate::access::Broker;
pub use crate::error::{Error, Result};
pub use crate::pacer::{Admission, Pacer, TenantRate};

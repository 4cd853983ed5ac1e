//! A faithful local Auth0 for tests, benchmarks and `keyhold dev`.
//!
//! One HTTP server plays any number of Auth0 tenants, chosen by the `Host` header
//! (`acme.auth0.test`), and serves the parts of Auth0 Keyhold relies on: the client-credentials
//! token endpoint (client secret or Private Key JWT assertion) with RS256 JWTs and a JWKS, and
//! the Management API for clients and their Private Key JWT credentials, resource servers and
//! users, with Auth0's scope checks, error bodies and rate-limit headers. A separate,
//! clearly test-only surface under `/__emulator/` seeds and inspects state and injects faults.
//!
//! The crate depends on nothing else of Keyhold's and defines its own wire types from Auth0's
//! documentation, so a mistake in Keyhold's client cannot be mirrored by the fake.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use auth0_emulator::{Emulator, Seed, TenantSeed};
//! let seed = Seed {
//!     tenants: vec![TenantSeed::with_m2m("acme.auth0.test", "cid", "secret", &["read:clients"])],
//! };
//! let emulator = Emulator::start(seed).await?;
//! let base = emulator.base_url(); // send `Host: acme.auth0.test` to reach the tenant
//! # let _ = base; Ok(()) }
//! ```

mod admin;
mod assertion;
mod counters;
mod credentials;
mod errors;
mod faults;
mod host;
mod keys;
mod mgmt;
mod model;
mod ratelimit;
#[cfg(test)]
mod robustness;
mod secrets;
mod seed;
mod server;
mod state;
mod token;

pub use admin::{Admin, CredentialState};
pub use counters::Counters;
pub use faults::Fault;
pub use seed::{
    ClientSeed, ConnectionSeed, GrantSeed, RateLimitSeed, ResourceServerSeed, ScopeSeed, Seed,
    TenantSeed, UserSeed,
};
pub use server::Emulator;

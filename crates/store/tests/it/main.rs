//! Store tests against real Postgres (`#[sqlx::test]`, a fresh migrated database each). Rows are
//! written with the store's own functions; sealed secrets are opaque bytes here (sealing and
//! opening them is the broker's, tested there and in the worker).

mod connection_counts;
mod key_pairs;
mod mapping;
mod rotations;
mod secret_events;
mod support;
mod webhook_upkeep;
mod webhooks;

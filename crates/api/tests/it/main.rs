//! API tests: the real router in-process (`tower::ServiceExt::oneshot`), a fresh migrated database per
//! test (`#[sqlx::test]`), and the Auth0 emulator on an ephemeral port playing Auth0.

mod bad_input;
mod canary;
mod connections;
mod health;
mod idempotency;
mod projects;
mod support;

//! API tests: the real router in-process (`tower::ServiceExt::oneshot`), a fresh migrated database per
//! test (`#[sqlx::test]`), and the Auth0 emulator on an ephemeral port playing Auth0.

mod access;
mod admins;
mod audit;
mod audit_streams;
mod bad_input;
mod canary;
mod connections;
mod dashboard;
mod diagnostics;
mod health;
mod hostile;
mod idempotency;
mod identities;
mod key_rotations;
mod login_flood;
mod matrix;
mod narrowed;
mod openapi;
mod private_key;
mod projects;
mod references;
mod rotation_secrets;
mod rotations;
mod secrets;
mod support;
mod token_vault;
mod usage;
mod webhook_events;
mod webhooks;

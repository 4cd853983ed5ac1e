//! Worker tests against real Postgres (`#[sqlx::test]`, a fresh database each) and the Auth0
//! emulator with its fault injection. Crash and rate-limit tests run the `keyhold-worker-test`
//! binary as child processes (SIGKILLed in the crash tests). The store's own SQL (constraints,
//! paging, lease fencing, the shared budget) is tested in `crates/store/tests/it`.

mod auth0_calls;
mod binding;
mod chaos;
mod crash;
mod keys;
mod ratelimit;
mod rotate;
mod runner;
mod support;
mod zero_downtime;

//! End-to-end tests of the Auth0 client against the real emulator (one binary, shared
//! helpers): token grant outcomes, retries and timeouts, the SSRF guard, and the generic
//! `send` helper.

mod guard;
mod management;
mod private_key_jwt;
mod support;
mod token;
mod transport;

//! End-to-end tests of the emulator over real HTTP (one test binary, one link step).

mod admin;
mod binary;
mod clients;
mod common;
mod concurrency;
mod faults;
mod ratelimit;
mod resource_servers;
mod token;
mod users;

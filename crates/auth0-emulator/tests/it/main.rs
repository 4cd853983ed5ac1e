//! End-to-end tests of the emulator over real HTTP (one test binary, one link step).

mod admin;
mod assertions;
mod binary;
mod clients;
mod common;
mod concurrency;
mod credentials;
mod faults;
mod pkjwt;
mod ratelimit;
mod resource_servers;
mod sdk_pkjwt;
mod token;
mod users;

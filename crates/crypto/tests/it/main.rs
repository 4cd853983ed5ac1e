//! Integration tests for `crypto` through its public API only: round trips, tampering,
//! re-wrapping, keyring parsing and redaction. One binary so there is one link step.

mod keyring;
mod redaction;
mod rewrap;
mod roundtrip;
mod tamper;

use crypto::{Aad, RootKeyring};

/// Key bytes 0x00..=0x1f.
pub const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Key bytes 0x20..=0x3f.
pub const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

pub const AAD: Aad<'static> = Aad {
    table: "app_connections",
    record_id: "0190b6a2-7c1e-7000-8000-000000000001",
    field: "client_secret",
    binding: None,
};

pub fn keyring(spec: &str) -> RootKeyring {
    RootKeyring::parse(spec).expect("test keyring parses")
}

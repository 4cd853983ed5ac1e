//! Writes the `envelope` target's seed corpus: real envelopes sealed under the fuzz keyring
//! plus a few near misses, so fuzzing starts past the header checks. Envelopes use random
//! nonces, so each run writes different (equally valid) bytes.
//!
//! Run from `fuzz/`: `cargo run --manifest-path seedgen/Cargo.toml -- corpus/envelope`.

use std::path::PathBuf;

use crypto::{Aad, RootKeyring};

/// Must match `fuzz_targets/envelope.rs`.
const K1: &str = "fuzz-k1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const K2: &str = "fuzz-k2:ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/gIGCg4Q=";
/// Not in the fuzz keyring: its envelopes reach the unknown-key-id error.
const K3: &str = "fuzz-k3:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const AAD: Aad<'static> = Aad::new(
    "app_connections",
    "0190b6a2-7c1e-7000-8000-000000000001",
    "client_secret",
);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: seedgen <corpus dir>")?,
    );
    std::fs::create_dir_all(&dir)?;
    let k1 = RootKeyring::parse(K1)?;
    let k2 = RootKeyring::parse(K2)?;
    let k3 = RootKeyring::parse(K3)?;

    let secret = k1.seal(b"s3cr3t-client-secret-0123456789", &AAD)?;
    let mut wrong_version = secret.clone();
    wrong_version[0] = 2;
    let mut flipped = secret.clone();
    if let Some(last) = flipped.last_mut() {
        *last ^= 1;
    }
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("sealed-k1", secret.clone()),
        ("sealed-k2", k2.seal(b"another secret", &AAD)?),
        ("sealed-empty", k1.seal(b"", &AAD)?),
        ("sealed-not-utf8", k1.seal(&[0xff, 0xfe, 0x00, 0x80], &AAD)?),
        ("unknown-key", k3.seal(b"s3cr3t", &AAD)?),
        ("truncated", secret[..60].to_vec()),
        ("wrong-version", wrong_version),
        ("flipped-tag", flipped),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

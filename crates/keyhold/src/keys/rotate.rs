//! `keyhold keys rotate`: generates the next root key (stdout, nothing else, so it can be
//! redirected into a secret store) and prints the rotation procedure for the configured keyring
//! (stderr), naming its key ids and where the keyring comes from. It touches no configuration
//! and no database; see the parent module for why.
//!
//! The order matters with more than one process: a key must be known to every process before any
//! process seals with it (else the others cannot open those records), and rewrap must run after
//! every process seals with it (else they keep sealing under the old key).

use crypto::ExposeSecret as _;

use crate::config::KeyArgs;

pub fn run(keys: &KeyArgs, id: Option<String>) -> anyhow::Result<()> {
    let keyring = keys.keyring()?;
    let ids = keyring.key_ids();
    let new_id = match id {
        Some(id) if ids.contains(&id) => {
            anyhow::bail!("key id `{id}` is already in the keyring; choose another with --id")
        }
        Some(id) => id,
        None => unique_id(&super::default_key_id(), &ids),
    };
    let key = crypto::generate_root_key(&new_id).map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("{}", key.expose_secret());
    eprintln!("{}", procedure(keys, &ids, &new_id));
    Ok(())
}

/// `base`, or `base-2`, `base-3`, ... when the keyring already has it (two rotations a day).
fn unique_id(base: &str, taken: &[String]) -> String {
    let mut candidate = base.to_owned();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

fn procedure(keys: &KeyArgs, ids: &[String], new_id: &str) -> String {
    let active = ids.first().map_or("", String::as_str);
    let old = ids.join(", ");
    let (add, promote) = match &keys.root_key_file {
        Some(path) => (
            format!(
                "add the line printed on stdout at the END of {}",
                path.display()
            ),
            format!("move the `{new_id}` line to the TOP of {}", path.display()),
        ),
        None => (
            format!("KEYHOLD_ROOT_KEYS=\"{}:…,{new_id}:…\"", ids.join(":…,")),
            format!("KEYHOLD_ROOT_KEYS=\"{new_id}:…,{}:…\"", ids.join(":…,")),
        ),
    };
    format!(
        "Root key rotation for the keyring {old} (active: {active}).
The new key `{new_id}` is on stdout: store it as secretly as the others, and back it up.

1. Add it LAST, so every process can open what it will seal before any process seals with it:
     {add}
   Restart every keyhold process (serve, worker), then check: keyhold keys check
2. Make it active:
     {promote}
   Restart every keyhold process again. New secrets are now sealed under `{new_id}`.
   (With a single keyhold process, steps 1 and 2 can be one restart with `{new_id}` first.)
3. Re-wrap the existing records under `{new_id}` (batches; safe to interrupt and run again):
     keyhold keys rewrap
4. Confirm nothing is left under {old}:
     keyhold keys status
5. Retire {old}: remove the entries and restart every process. Keep a backup of the old keys
   until every database backup taken before step 3 has expired: those are sealed under them.

A key id is pinned to its key at first use: never reuse `{new_id}` for another key."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_avoid_the_keyring() {
        let taken = vec!["k20261123".to_owned(), "k20261123-2".to_owned()];
        assert_eq!(unique_id("k20261123", &taken), "k20261123-3");
        assert_eq!(unique_id("k20261124", &taken), "k20261124");
    }

    #[test]
    fn procedure_names_the_keys_and_never_key_material() {
        let keys = KeyArgs {
            root_keys: Some(format!("k1:{}", "A".repeat(44))),
            root_key_file: None,
        };
        let text = procedure(&keys, &["k1".to_owned(), "k0".to_owned()], "k2");
        assert!(
            text.contains("KEYHOLD_ROOT_KEYS=\"k1:…,k0:…,k2:…\""),
            "{text}"
        );
        assert!(
            text.contains("KEYHOLD_ROOT_KEYS=\"k2:…,k1:…,k0:…\""),
            "{text}"
        );
        assert!(text.contains("keyhold keys rewrap"));
        assert!(!text.contains("AAAA"), "no key material");
    }
}

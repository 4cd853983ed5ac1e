//! Associated data: where a ciphertext lives (table, record id, field) and its canonical byte
//! encoding. Binding an envelope to its place means a ciphertext copied into another row or
//! column fails to open instead of silently decrypting there.
//!
//! The encoding length-prefixes every component so `("ab", "c")` and `("a", "bc")` differ, and
//! starts with a purpose label so the payload's and the wrapped key's associated data can never
//! be confused with each other.

use crate::error::CryptoError;

/// Where a ciphertext lives; binds it so it cannot be replayed into another row or column.
///
/// Use the stable identifiers of the row (its primary key), not values that may change, or the
/// secret becomes unreadable when they do.
#[derive(Clone, Copy, Debug)]
pub struct Aad<'a> {
    /// Table name, e.g. `app_connections`.
    pub table: &'a str,
    /// The row's stable id, e.g. its UUID as text.
    pub record_id: &'a str,
    /// Column or logical field, e.g. `client_secret`.
    pub field: &'a str,
    /// What the secret is for beyond its place (e.g. the tenant and client it was issued to),
    /// in a caller-defined unambiguous encoding. Bound into the payload only: the wrapped data
    /// key stays bound to the place, so re-wrapping under a new root key needs no binding.
    pub binding: Option<&'a str>,
}

impl<'a> Aad<'a> {
    /// Shorthand for the struct literal.
    pub const fn new(table: &'a str, record_id: &'a str, field: &'a str) -> Self {
        Self {
            table,
            record_id,
            field,
            binding: None,
        }
    }

    /// The same place, with the payload also bound to `binding`.
    #[must_use]
    pub const fn bound(self, binding: &'a str) -> Self {
        Self {
            binding: Some(binding),
            ..self
        }
    }
}

/// Purpose labels: part of the encoding, so changing them breaks every stored envelope.
const PAYLOAD_LABEL: &[u8] = b"keyhold/payload";
const WRAP_LABEL: &[u8] = b"keyhold/data-key";

/// Associated data for the secret's own ciphertext. Deliberately excludes the root key id so
/// re-wrapping under another root key leaves the payload valid.
pub(crate) fn payload_aad(version: u8, aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
    match aad.binding {
        // Without a binding the bytes are exactly those of envelopes sealed before bindings
        // existed; with one, the extra length-prefixed part makes them differ from every
        // three-part encoding.
        None => encode(
            PAYLOAD_LABEL,
            version,
            &[aad.table, aad.record_id, aad.field],
        ),
        Some(binding) => encode(
            PAYLOAD_LABEL,
            version,
            &[aad.table, aad.record_id, aad.field, binding],
        ),
    }
}

/// Associated data for the wrapped data key: the place plus the root key id, so a wrapped key
/// can neither move to another row nor be relabelled with another key id.
pub(crate) fn wrap_aad(version: u8, key_id: &str, aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
    encode(
        WRAP_LABEL,
        version,
        &[key_id, aad.table, aad.record_id, aad.field],
    )
}

fn encode(label: &[u8], version: u8, parts: &[&str]) -> Result<Vec<u8>, CryptoError> {
    let capacity = parts
        .iter()
        .map(|p| p.len().saturating_add(4))
        .fold(label.len().saturating_add(5), usize::saturating_add);
    let mut out = Vec::with_capacity(capacity);
    push_prefixed(&mut out, label)?;
    out.push(version);
    for part in parts {
        push_prefixed(&mut out, part.as_bytes())?;
    }
    Ok(out)
}

fn push_prefixed(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), CryptoError> {
    let len = u32::try_from(bytes.len()).map_err(|_| CryptoError::TooLarge)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(table: &str, record_id: &str, field: &str) -> Vec<u8> {
        payload_aad(1, &Aad::new(table, record_id, field)).expect("small aad encodes")
    }

    #[test]
    fn length_prefix_separates_component_boundaries() {
        assert_ne!(payload("ab", "c", "d"), payload("a", "bc", "d"));
        assert_ne!(payload("a", "bc", ""), payload("a", "b", "c"));
        assert_ne!(payload("", "", "x"), payload("x", "", ""));
    }

    #[test]
    fn encoding_is_stable() {
        // Stored envelopes depend on these exact bytes; a change here breaks existing data.
        let expected: Vec<u8> = [
            &[0, 0, 0, 15][..],
            b"keyhold/payload",
            &[1],
            &[0, 0, 0, 1],
            b"t",
            &[0, 0, 0, 2],
            b"id",
            &[0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(payload("t", "id", ""), expected);
    }

    #[test]
    fn binding_changes_the_payload_but_not_the_wrap() {
        let place = Aad::new("t", "r", "f");
        let bound = place.bound("tenant-a");
        let plain = payload_aad(1, &place).expect("encodes");
        assert_ne!(plain, payload_aad(1, &bound).expect("encodes"));
        assert_ne!(
            payload_aad(1, &bound).expect("encodes"),
            payload_aad(1, &place.bound("tenant-b")).expect("encodes")
        );
        assert_eq!(
            wrap_aad(1, "k", &place).expect("encodes"),
            wrap_aad(1, "k", &bound).expect("encodes"),
            "re-wrapping must not need the binding"
        );
    }

    #[test]
    fn version_and_purpose_are_bound() {
        let aad = Aad::new("t", "r", "f");
        let v1 = payload_aad(1, &aad).expect("encodes");
        let v2 = payload_aad(2, &aad).expect("encodes");
        assert_ne!(v1, v2);
        let wrap = wrap_aad(1, "k1", &aad).expect("encodes");
        assert_ne!(v1, wrap);
        assert_ne!(
            wrap,
            wrap_aad(1, "k2", &aad).expect("encodes"),
            "key id is bound into the wrap aad"
        );
    }
}

//! Keyset paging shared by every list: rows are ordered by `(name, id)` and a cursor is the last
//! row's key, so a page costs one index range scan wherever it starts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The position after which the next page starts. Opaque to clients (base64url).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub name: String,
    pub id: Uuid,
}

/// Longer than any cursor of a name the API accepts (a few hundred bytes at most).
const MAX_ENCODED: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cursor is not one this server issued")]
pub struct BadCursor;

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.id, self.name))
    }

    /// Only what [`Cursor::encode`] produces is accepted: the decoded name reaches SQL as a bound
    /// parameter, and PostgreSQL answers a NUL in text with an error rather than no rows, so a
    /// forged cursor must fail here, as a client error.
    pub fn decode(raw: &str) -> Result<Cursor, BadCursor> {
        if raw.len() > MAX_ENCODED {
            return Err(BadCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (id, name) = text.split_once('\n').ok_or(BadCursor)?;
        if name.contains('\0') {
            return Err(BadCursor);
        }
        let cursor = Cursor {
            name: name.to_owned(),
            id: Uuid::parse_str(id).map_err(|_| BadCursor)?,
        };
        // Another spelling of the same cursor (a braced or upper-case UUID) was not issued here.
        if cursor.encode() != raw {
            return Err(BadCursor);
        }
        Ok(cursor)
    }
}

/// What a list query asks for: at most `limit` rows after `after`.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// One page and the cursor of the next one (`None` on the last page).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1`: the extra row only proves a next page exists.
    pub fn from_overfetch(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// Escapes LIKE wildcards so a search for `a_b` matches that text, not `a?b`.
pub fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_names_with_newlines_and_unicode() {
        for name in ["a", "with\nnewline", "ünïcödé", ""] {
            let c = Cursor {
                name: name.to_owned(),
                id: Uuid::now_v7(),
            };
            assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        }
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for raw in ["", "!!!", "bm90IGEgY3Vyc29y", "AAAA"] {
            assert_eq!(Cursor::decode(raw), Err(BadCursor), "{raw}");
        }
        let id = Uuid::now_v7();
        for text in [
            format!("{id}\na\0b"),
            format!("{id}\n\0"),
            format!("{}\nname", id.to_string().to_uppercase()),
            format!("{{{id}}}\nname"),
            format!("{}\nname", id.simple()),
        ] {
            let raw = URL_SAFE_NO_PAD.encode(&text);
            assert_eq!(Cursor::decode(&raw), Err(BadCursor), "{text:?}");
        }
        let padded = URL_SAFE_NO_PAD.encode(format!("{id}\nname")) + "==";
        assert_eq!(Cursor::decode(&padded), Err(BadCursor));
        assert_eq!(Cursor::decode(&"A".repeat(5000)), Err(BadCursor));
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cursor is not one this server issued")]
pub struct BadCursor;

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.id, self.name))
    }

    pub fn decode(raw: &str) -> Result<Cursor, BadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (id, name) = text.split_once('\n').ok_or(BadCursor)?;
        let id = Uuid::parse_str(id).map_err(|_| BadCursor)?;
        Ok(Cursor {
            name: name.to_owned(),
            id,
        })
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
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}

//! Keyset paging shared by every list: rows are ordered by `(name, id)` and a cursor is the last
//! row's key, so a page costs one index range scan wherever it starts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, FromRow, PgPool, Postgres, QueryBuilder, Row as _};
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

impl PageRequest {
    /// ` limit <limit + 1>`: one row more than the page, to learn whether a next one exists.
    pub(crate) fn push_limit(&self, q: &mut QueryBuilder<Postgres>) {
        push_literal_limit(q, u64::from(self.limit) + 1);
    }
}

/// ` limit n` with `n` in the statement's text rather than bound. PostgreSQL plans a bound limit
/// as a tenth of the table, so the cached generic plan of a page statement never won and every
/// execution was planned afresh; with the number in the text it wins after five, as pgbench's
/// literal statement does. `n` is a number of ours, never a client's text; each distinct limit is
/// its own prepared statement.
fn push_literal_limit(q: &mut QueryBuilder<Postgres>, n: u64) {
    q.push(format_args!(" limit {n}"));
}

/// A filtered list's total as a scalar subquery: the rows of `table` that `push_where` selects,
/// counted up to `cap` and `null` past it, so a huge list costs at most `cap` index entries per
/// page rather than a count of everything.
pub(crate) fn push_capped_count(
    q: &mut QueryBuilder<Postgres>,
    table: &'static str,
    cap: u32,
    push_where: impl FnOnce(&mut QueryBuilder<Postgres>),
) {
    q.push(format_args!(
        "(select case when count(*) <= {cap} then count(*) end \
         from (select 1 from {table} where "
    ));
    push_where(q);
    push_literal_limit(q, u64::from(cap) + 1);
    q.push(") capped)");
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

/// A page and its list's total, read by one statement (see [`fetch_counted`]).
#[derive(Debug)]
pub struct Counted<T> {
    pub page: Page<T>,
    /// `None` where the list counts only up to a cap and passed it.
    pub total: Option<u32>,
}

/// Runs `q`, a page statement (`limit + 1` rows) whose last column is the whole list's total as
/// the scalar subquery `push_total` writes (`null` when not known), and decodes its rows. One
/// statement instead of a page and a count: on a loaded server the second statement's round trip,
/// wake-ups and executor cost more than the count itself. Only an empty page, which has no row to
/// carry the total, counts alone.
pub(crate) async fn fetch_counted<T>(
    pool: &PgPool,
    q: &mut QueryBuilder<Postgres>,
    limit: u32,
    key: impl Fn(&T) -> Cursor,
    push_total: impl FnOnce(&mut QueryBuilder<Postgres>),
) -> crate::Result<Counted<T>>
where
    T: for<'r> FromRow<'r, PgRow>,
{
    let rows = q.build().fetch_all(pool).await?;
    let Some(first) = rows.first() else {
        return Ok(Counted {
            page: Page {
                items: Vec::new(),
                next: None,
            },
            total: total(pool, push_total).await?,
        });
    };
    let counted: Option<i64> = first.try_get(first.len() - 1)?;
    let items = rows
        .iter()
        .map(T::from_row)
        .collect::<sqlx::Result<Vec<T>>>()?;
    Ok(Counted {
        page: Page::from_overfetch(items, limit, key),
        total: known_total(counted),
    })
}

/// A list's total alone: `select` of the scalar subquery `push_total` writes.
pub(crate) async fn total(
    pool: &PgPool,
    push_total: impl FnOnce(&mut QueryBuilder<Postgres>),
) -> crate::Result<Option<u32>> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("select ");
    push_total(&mut q);
    let counted: Option<i64> = q.build_query_scalar().fetch_one(pool).await?;
    Ok(known_total(counted))
}

/// `null` (a capped count that passed its cap) and totals past `u32` read as unknown.
fn known_total(counted: Option<i64>) -> Option<u32> {
    counted.and_then(|n| u32::try_from(n).ok())
}

/// Reads a row's columns by position, in the order of its statement's column list: a page decodes
/// a hundred rows of a dozen columns, and looking each one up by name and checking its type cost
/// more than decoding it. Debug builds (every test) check each name, so a column list and its
/// reader cannot drift apart unnoticed.
pub(crate) struct Positional<'r> {
    row: &'r PgRow,
    next: usize,
}

impl<'r> Positional<'r> {
    pub(crate) fn new(row: &'r PgRow) -> Self {
        Self { row, next: 0 }
    }

    pub(crate) fn take<T: sqlx::Decode<'r, Postgres>>(&mut self, name: &str) -> sqlx::Result<T> {
        debug_assert_eq!(self.row.column(self.next).name(), name, "column order");
        let value = self.row.try_get_unchecked(self.next);
        self.next += 1;
        value
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

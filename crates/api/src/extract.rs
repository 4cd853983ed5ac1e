//! Extractors that turn malformed input into our problem format instead of axum's plain text.

mod if_match;
mod json;
mod path;
mod query;

pub use if_match::{IfMatch, etag};
pub use json::{
    ValidJson, body_rejection, integer, is_json, not_null, nullable, object, optional_integer,
    optional_object, parse as parse_json,
};
pub use path::{PathId, PathIds};
pub use query::ValidQuery;

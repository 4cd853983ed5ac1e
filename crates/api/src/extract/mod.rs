//! Extractors that turn malformed input into our problem format instead of axum's plain text.

mod if_match;
mod json;
mod path;
mod query;

pub use if_match::{IfMatch, etag};
pub use json::ValidJson;
pub use path::PathId;
pub use query::ValidQuery;

//! A write that hits a unique constraint is the caller's conflict, not our failure: each
//! resource names its constraints (their names are in the migrations) and the field whose value
//! is taken, and [`Unique::or`] turns that one store error into a 409 on the field.

use crate::problem::ApiError;

/// One unique constraint and the input field it keeps unique.
pub struct Unique {
    /// The constraint's (or unique index's) name, as Postgres reports it.
    pub constraint: &'static str,
    pub field: &'static str,
    /// What exists already. Never the value that collided: an error body names the field and
    /// the rule, it does not echo what was sent (a client may log or render it).
    pub taken: &'static str,
}

impl Unique {
    /// The 409 for the field's value being taken.
    pub fn conflict(&self) -> ApiError {
        ApiError::Conflict {
            detail: self.taken.to_owned(),
            field: Some(self.field),
        }
    }

    /// `err` as this constraint's 409 when it is a duplicate on it; anything else as `otherwise`.
    pub fn or(
        &self,
        err: store::Error,
        otherwise: impl FnOnce(store::Error) -> ApiError,
    ) -> ApiError {
        match err {
            store::Error::Duplicate { ref constraint } if constraint == self.constraint => {
                self.conflict()
            }
            other => otherwise(other),
        }
    }
}

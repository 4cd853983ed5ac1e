//! A write that hits a unique constraint is the caller's conflict, not our failure: each
//! resource names its constraints (their names are in the migrations) and the field whose value
//! is taken, and [`Unique::or`] turns that one store error into a 409 on the field.

use crate::problem::ApiError;

/// One unique constraint and the input field it keeps unique.
pub struct Unique {
    /// The constraint's (or unique index's) name, as Postgres reports it.
    pub constraint: &'static str,
    pub field: &'static str,
    /// What exists already, said with the value that collided.
    pub taken: fn(&str) -> String,
}

impl Unique {
    /// The 409 for `value` being taken.
    pub fn conflict(&self, value: &str) -> ApiError {
        ApiError::Conflict {
            detail: (self.taken)(value),
            field: Some(self.field),
        }
    }

    /// `err` as this constraint's 409 when it is a duplicate on it; anything else as `otherwise`.
    pub fn or(
        &self,
        err: store::Error,
        value: &str,
        otherwise: impl FnOnce(store::Error) -> ApiError,
    ) -> ApiError {
        match err {
            store::Error::Duplicate { ref constraint } if constraint == self.constraint => {
                self.conflict(value)
            }
            other => otherwise(other),
        }
    }
}

//! The worker crate's error type for its public entry points. Failures of a rotation itself are
//! not errors here: they are recorded on the attempt and reported in a [`crate::JobReport`].

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("invalid worker configuration: {0}")]
    Config(String),
}

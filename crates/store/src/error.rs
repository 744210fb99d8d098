use std::fmt;

/// What went wrong, coarse enough for a caller to decide what to do: retry
/// (`Unavailable`), answer "duplicate" (`Conflict`), stop the host (`Corrupt`, `Io`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The file system or the database engine failed to read or write.
    Io,
    /// An insert hit an existing primary key or unique key (txn id, idem_key, ...).
    Conflict,
    /// A stored row does not decode (unknown enum text, negative id, bad flag).
    Corrupt,
    /// The database server could not be reached or the connection broke.
    Unavailable,
    /// The schema could not be brought to this build's version.
    Migration,
    /// A write referred to a row that does not exist (e.g. a `TxnUpdate` of an unknown id).
    NotFound,
    /// A value cannot be stored as given (an id above `i64::MAX`, a bad URL).
    Invalid,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::Io => "i/o error",
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Corrupt => "corrupt data",
            StoreErrorKind::Unavailable => "database unavailable",
            StoreErrorKind::Migration => "migration failed",
            StoreErrorKind::NotFound => "not found",
            StoreErrorKind::Invalid => "invalid value",
        })
    }
}

/// A store failure. `context` says what was being done and why it failed, in a few
/// words; it never carries row contents (no tokens, no amounts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {context}")]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub context: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, context: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            context: context.into(),
        }
    }

    pub(crate) fn corrupt(context: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Corrupt, context)
    }

    pub(crate) fn invalid(context: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Invalid, context)
    }
}

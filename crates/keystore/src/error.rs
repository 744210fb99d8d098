//! The crate's one error type. Messages are for the operator reading a refused start or
//! an API answer: they name ids, usages, paths and key check values, never key material
//! (no component, key or KEK text is ever formatted into an error).

use crate::table::{Algorithm, Usage};

/// What went wrong, typed so the host can map it to an HTTP status or an exit message in
/// one table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// No KEK where one was asked for: a production start is refused.
    #[error(
        "no master key (KEK) found: {missing}. posguard stores every key wrapped under a \
         KEK and will not start without one; provide 64 hex digits (AES-256) in the KEK \
         file or in the environment variable {env} (`posguard serve --demo` creates one)",
        env = crate::KEK_ENV_VAR
    )]
    KekNotFound { missing: String },
    /// The KEK text is not 64 hex digits.
    #[error("the KEK from {origin} is not 64 hexadecimal digits (an AES-256 key)")]
    KekMalformed { origin: String },
    /// The KEK file may be read or changed by other users.
    #[error(
        "the KEK file {path} is accessible by group or others (mode {mode:03o}); \
         run `chmod 600 {path}`"
    )]
    KekFilePermissions { path: String, mode: u32 },
    /// Reading or creating the KEK file failed.
    #[error("{doing} the KEK file {path}: {source}")]
    KekIo {
        doing: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// The stored keys (or the recorded KEK check value) belong to another KEK.
    #[error(
        "the KEK given (KCV {given}) is not the one that wrapped the keys (KCV {stored}); \
         start with the KEK whose check value is {stored}"
    )]
    KekMismatch { given: String, stored: String },
    /// `rotate_kek` was given the KEK already in use.
    #[error("the new KEK is the one already in use (KCV {kcv}); rotation needs a new key")]
    SameKek { kcv: String },
    /// A key id is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("key id {id:?} is invalid: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// Import or generation under an id that already exists.
    #[error("a key with id {id:?} already exists")]
    DuplicateId { id: String },
    /// No key has this id.
    #[error("no key with id {id:?}")]
    NotFound { id: String },
    /// The keystore is full.
    #[error("the keystore holds its maximum of {max} keys")]
    TooManyKeys { max: usize },
    /// The key exists but is bound to another usage ("a PIN key cannot be used to MAC").
    #[error("key {id:?} has usage {stored}, not {wanted}")]
    WrongUsage {
        id: String,
        stored: Usage,
        wanted: Usage,
    },
    /// The key has the right usage but another algorithm than the caller needs.
    #[error("key {id:?} is {stored}, not {wanted}")]
    WrongAlgorithm {
        id: String,
        stored: Algorithm,
        wanted: &'static str,
    },
    /// posguard does not use this algorithm for this usage.
    #[error("usage {usage} does not take algorithm {algorithm}")]
    Unsupported { usage: Usage, algorithm: Algorithm },
    /// This way of creating a key is not open to this usage or algorithm.
    #[error("{what}")]
    NotPermitted { what: &'static str },
    /// Split knowledge: a key is combined from 2 or 3 components.
    #[error("a key is combined from 2 or 3 components, got {got}")]
    ComponentCount { got: usize },
    /// A component is not hex of the algorithm's length, or its KCV is not 6 hex digits.
    #[error("component {index} is malformed: {reason}")]
    ComponentMalformed { index: usize, reason: String },
    /// A component does not match the check value typed with it.
    #[error("component {index} does not match its check value")]
    ComponentKcv { index: usize },
    /// A TR-31 block given for import did not unwrap (wrong KBPK, tampered, malformed).
    #[error("the TR-31 key block does not unwrap under KBPK {kbpk_id:?}: {source}")]
    Tr31 {
        kbpk_id: String,
        source: paycrypto::Error,
    },
    /// A TR-31 header names a usage or algorithm posguard does not map.
    #[error("TR-31 key usage {key_usage} with algorithm {algorithm} is not one posguard imports")]
    Tr31Unmapped { key_usage: String, algorithm: char },
    /// A stored record is not valid JSON or its meta key does not match its id.
    #[error("stored key record {meta_key:?} is malformed: {reason}")]
    RecordMalformed { meta_key: String, reason: String },
    /// A stored record does not unwrap or does not match its block (tampered).
    #[error("stored key {id:?} fails its integrity check ({reason}); the record was altered")]
    RecordTampered { id: String, reason: String },
    /// A cryptographic operation failed on data this crate built itself.
    #[error("key wrapping failed: {0}")]
    Crypto(#[from] paycrypto::Error),
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, KeystoreError>;

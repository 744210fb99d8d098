//! The crate's one error type.
//!
//! Every fallible function returns [`Error`]: bad lengths, non-hex text, malformed PIN
//! blocks, failed MAC or key check value comparisons. Nothing here panics on input; the
//! `assert!`s in this crate guard internal invariants only.

/// What went wrong, typed so callers can map it to an outward code in one table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input has the wrong length.
    #[error("{what}: expected {expected}, got {got} bytes")]
    Length {
        what: &'static str,
        expected: &'static str,
        got: usize,
    },
    /// Text that should be hexadecimal is not (bad character or odd digit count).
    #[error("{what}: not an even number of hexadecimal digits")]
    Hex { what: &'static str },
    /// A PIN is not 4 to 12 decimal digits.
    #[error("PIN must be 4 to 12 decimal digits")]
    Pin,
    /// A PAN is not decimal digits of an acceptable length for the operation.
    #[error("PAN must be {min} to 19 decimal digits")]
    Pan { min: usize },
    /// A decimal-only field (offset, PVV, PVKI, decimalisation table...) is malformed.
    #[error("{what}: malformed decimal field")]
    Decimal { what: &'static str },
    /// A clear PIN block has a control nibble other than the expected format.
    #[error("PIN block is not ISO 9564 format {expected} (control nibble {found:X})")]
    PinBlockFormat { expected: u8, found: u8 },
    /// A clear PIN block has the right format but bad content (length, digits, fill).
    #[error("PIN block malformed: {0}")]
    PinBlock(&'static str),
    /// The DUKPT transaction counter has no next value: the device must stop.
    #[error("DUKPT transaction counter exhausted")]
    CounterExhausted,
    /// A KSN carries a counter a device may never use (zero, or too many 1 bits).
    #[error("DUKPT transaction counter {counter:#x} is not one a device may use")]
    InvalidCounter { counter: u64 },
    /// A KSN names another DUKPT device than the key cache it was presented to.
    #[error("KSN belongs to another DUKPT device than this key cache")]
    KsnDevice,
    /// A key is bound to a usage that does not permit the requested operation.
    #[error("key usage {bound:?} does not permit {wanted:?}")]
    KeyUsage {
        bound: crate::KeyUsage,
        wanted: crate::KeyUsage,
    },
    /// A derived key would be stronger than the key it is derived from (X9.24-3 6.1.3).
    #[error("working key type is stronger than the transaction key")]
    KeyStrength,
    /// A key check value did not match.
    #[error("key check value mismatch for {what}")]
    KeyCheckValue { what: &'static str },
    /// A MAC (message or key block) did not verify.
    #[error("MAC verification failed")]
    MacMismatch,
    /// A PIN did not verify against its offset or PVV.
    #[error("PIN verification failed")]
    PinMismatch,
    /// A TR-31 key block is malformed or unsupported.
    #[error("TR-31 key block: {0}")]
    KeyBlock(&'static str),
    /// A parameter is outside the range the operation supports.
    #[error("invalid parameter: {0}")]
    Parameter(&'static str),
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;

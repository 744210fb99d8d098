//! The ledger's rules: which entries each kind of transaction posts, and the verifier
//! that checks stored entries against stored transactions.
//!
//! Architecture Invariant: pure. No I/O, no clock; the same input gives the same
//! entries, so live posting and `posguard ledger verify` share one definition.
//! Architecture Invariant: every posting balances to zero per currency; this is an
//! assertion, not an error, because an unbalanced posting is a programmer error.

#[cfg(test)]
mod fixtures;
mod postings;
mod verify;

pub use postings::{Leg, expected_legs, funding, legs_balance};
pub use verify::{Problem, Report, Verifier};

//! posguard's payment cryptography. Pure: no I/O, no clocks, no global randomness
//! (callers pass an RNG where fill bytes are needed).
//!
//! - [`dukpt_tdes`]: TDES DUKPT (ANSI X9.24-1:2009), host and terminal side; the host
//!   keeps a [`dukpt_tdes::TransactionKeyCache`] per terminal so that a transaction
//!   costs one key generation, not one per counter bit.
//! - [`dukpt_aes`]: AES DUKPT (ANSI X9.24-3:2017), host and terminal side, with
//!   [`dukpt_aes::AesTransactionKeyCache`] likewise.
//! - [`pinblock`]: ISO 9564-1 PIN block formats 0, 1, 3 and 4.
//! - [`pinverify`]: IBM 3624 PIN offset, Visa PVV.
//! - [`translate`]: PIN translation between terminal and zone keys.
//! - [`mac`]: retail MAC (X9.19), X9.9, UnionPay ECB MAC, AES-CMAC, HMAC-SHA256.
//! - [`tr31`]: TR-31 key blocks, versions B and D.
//! - [`keys`], [`components`], [`usage`]: key types, KCVs, component entry, usage binding.
//!
//! Architecture invariant: secrets live only in zeroizing newtypes that redact
//! themselves in `Debug` and are not `Serialize`; raw bytes are reached through
//! `expose_*` methods only.

pub mod components;
pub mod counter;
pub mod dukpt_aes;
pub mod dukpt_tdes;
mod error;
pub mod hexutil;
pub mod keys;
pub mod mac;
pub mod pin;
pub mod pinblock;
pub mod pinverify;
pub mod tr31;
pub mod translate;
pub mod unionpay;
pub mod usage;

pub use error::{Error, Result};
pub use keys::{AesKey, DesBlockCipher, HmacKey, Kcv, SingleDesKey, TdesKey};
pub use pin::{Pan, Pin};
pub use usage::{Bound, KeyUsage};

//! The terminal side of posguard's link security (`docs/terminal-security.md`): what a
//! DUKPT terminal puts on a request and checks on its answer.
//!
//! - [`DukptTerminal`]: an originating device (TDES DUKPT, AES-128 or AES-256 DUKPT) that
//!   hands out one [`Transaction`] per KSN, advancing its counter as the standards say
//!   (TDES skips counters with more than ten one bits) and refusing to wrap.
//! - [`Transaction`]: one KSN's fields and keys. [`Transaction::sign_request`] sets field
//!   62 (KSN), the PIN block (52 for TDES, 110 for AES) and the MAC (64 or 128), and
//!   returns a [`PendingResponse`] that verifies the host's answer under the same KSN.
//!   Signing again with the same `Transaction` (a repeat, MTI ...1) reuses the KSN and the
//!   PIN block.
//!
//! ```
//! use iso8583::{MessageBuilder, Spec};
//! use terminal::{Bdk, DukptTerminal, KeyId, MacField, Pan, Pin, PinEntry, Scheme};
//!
//! let bdk = Bdk::from_hex(Scheme::Tdes, "0123456789ABCDEFFEDCBA9876543210")?;
//! let key_id = KeyId::parse(Scheme::Tdes, "FFFF9876543210E00000")?;
//! let mut device = DukptTerminal::from_bdk(&bdk, &key_id)?;
//! let (pin, pan) = (Pin::new("1234")?, Pan::new("4761739001010010")?);
//! let entry = PinEntry { pin: &pin, pan: &pan };
//! let txn = device.next_transaction(Some(entry), MacField::F64, &mut rand::rng())?;
//! assert_eq!(txn.ksn_hex(), "FFFF9876543210E00001");
//!
//! let spec = Spec::posguard_ascii();
//! let mut msg = MessageBuilder::new();
//! msg.set_mti("0200").set(2, "4761739001010010").set(4, "000000012500");
//! let mut body = Vec::new();
//! let pending = txn.sign_request(&mut msg, &spec, &mut body)?;
//! let sent = spec.decode(&body)?;
//! assert_eq!(sent.field_str(62).as_deref(), Some("FFFF9876543210E00001"));
//! assert_eq!(sent.field(52).map(<[u8]>::len), Some(16));
//! # let _ = pending;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Architecture Invariant:** pure: no I/O, no clock; randomness (format 4 fill) comes
//! from the caller's RNG. Clear PINs, PANs and keys stay in paycrypto's zeroizing types,
//! which redact themselves in `Debug`; this crate's own types print KSNs only.

mod device;
mod error;
mod scheme;
mod transaction;
pub mod unionpay;

pub use device::{DukptTerminal, PinEntry, transaction_at};
pub use error::TerminalError;
pub use scheme::{Bdk, KeyId, Scheme};
pub use transaction::{MAC_HEX_LEN, MAC_PLACEHOLDER, MacField, PendingResponse, Transaction};

/// The clear PIN and PAN types the API takes (zeroized on drop, redacted in `Debug`).
pub use paycrypto::{Pan, Pin};

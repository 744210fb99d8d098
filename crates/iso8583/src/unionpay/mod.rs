//! The UnionPay-style (银联) POS dialect around the codec: the TPDU and 6-byte header in
//! front of each message (this file), the sub-fields of 53, 60, 61 and 63 (`fields`),
//! and the field-48 records of settlement and batch upload (`totals`).
//!
//! Wire layout of a frame (see `docs/unionpay.md`): `len(2, binary) | TPDU(5) |
//! header(6) | MTI(2 BCD) | bitmap(8) | fields`, decoded by [`crate::Spec::unionpay`]
//! from the MTI on. Pure: no I/O.

mod fields;
mod totals;

pub use fields::{
    Field53, Field60, Field61, Field63Reply, SubFieldError, UnionPayFields, operator_code,
};
pub use totals::{BatchRecord, SettleResult, SideTotals, Totals, parse_batch_records};

/// TPDU: id (0x60), destination address (2 bytes), source address (2 bytes).
pub const TPDU_BYTES: usize = 5;
/// Header: application type (0x60), version, status + processing requirement nibbles,
/// 3-byte software sub-version.
pub const HEADER_BYTES: usize = 6;
/// Everything in front of the MTI.
pub const PREAMBLE_BYTES: usize = TPDU_BYTES + HEADER_BYTES;
/// The only TPDU id posguard accepts: "transaction" (ISO 8583 follows).
pub const TPDU_ID: u8 = 0x60;

/// How a reply's TPDU names its addresses. Terminals accept both; acquirers differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TpduReply {
    /// Destination and source swapped (the reply goes back where it came from).
    #[default]
    Swap,
    /// The request's TPDU verbatim.
    Echo,
}

/// What the host asks the terminal to do next: the low nibble of header byte 3 in a
/// reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Processing {
    #[default]
    None = 0,
    ParameterDownload = 1,
    StatusUpload = 2,
    SignOnAgain = 3,
    CapkDownload = 4,
    IcParameterDownload = 5,
    AppDownload = 6,
    BlacklistDownload = 7,
}

impl Processing {
    fn from_nibble(n: u8) -> Option<Processing> {
        use Processing::*;
        [
            None,
            ParameterDownload,
            StatusUpload,
            SignOnAgain,
            CapkDownload,
            IcParameterDownload,
            AppDownload,
            BlacklistDownload,
        ]
        .into_iter()
        .find(|p| *p as u8 == n)
    }
}

/// The TPDU and header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    pub destination: [u8; 2],
    pub source: [u8; 2],
    /// Header byte 1 (e.g. 0x31 = "31"), two BCD digits.
    pub version: u8,
    /// High nibble of header byte 2: the terminal's status (0 normal, 1 test...).
    pub status: u8,
    pub processing: Processing,
    /// Header bytes 3..6, BCD.
    pub sub_version: [u8; 3],
}

/// Why the bytes in front of a message are not a UnionPay TPDU and header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreambleError {
    #[error("frame has {len} bytes, shorter than the {PREAMBLE_BYTES}-byte TPDU and header")]
    Truncated { len: usize },
    #[error("TPDU id is {id:#04x}, expected 0x60")]
    WrongTpduId { id: u8 },
    #[error("header application type is {value:#04x}, expected 0x60")]
    WrongHeaderType { value: u8 },
    #[error("header byte {at} is not BCD")]
    NotBcd { at: usize },
    #[error("processing requirement {nibble} is not defined")]
    UnknownProcessing { nibble: u8 },
}

fn is_bcd(b: u8) -> bool {
    b >> 4 <= 9 && b & 0x0F <= 9
}

impl Preamble {
    /// Reads the TPDU and header at the start of `frame` (the bytes after the length).
    pub fn parse(frame: &[u8]) -> Result<Preamble, PreambleError> {
        let Some(p) = frame.get(..PREAMBLE_BYTES) else {
            return Err(PreambleError::Truncated { len: frame.len() });
        };
        if p[0] != TPDU_ID {
            return Err(PreambleError::WrongTpduId { id: p[0] });
        }
        let header = &p[TPDU_BYTES..];
        if header[0] != 0x60 {
            return Err(PreambleError::WrongHeaderType { value: header[0] });
        }
        // The addresses are binary (NII-like); the header is BCD throughout.
        if let Some(at) = (1..HEADER_BYTES).find(|&i| !is_bcd(header[i])) {
            return Err(PreambleError::NotBcd { at });
        }
        let nibble = header[2] & 0x0F;
        let processing =
            Processing::from_nibble(nibble).ok_or(PreambleError::UnknownProcessing { nibble })?;
        Ok(Preamble {
            destination: [p[1], p[2]],
            source: [p[3], p[4]],
            version: header[1],
            status: header[2] >> 4,
            processing,
            sub_version: [header[3], header[4], header[5]],
        })
    }

    /// A terminal's preamble: TPDU to `destination`, header version 0x31.
    pub fn terminal(destination: [u8; 2], source: [u8; 2]) -> Preamble {
        Preamble {
            destination,
            source,
            version: 0x31,
            status: 0,
            processing: Processing::None,
            sub_version: [0x31, 0x01, 0x00],
        }
    }

    /// The preamble of the reply to this request: addresses per `mode`, the terminal's
    /// own header back with the host's processing requirement.
    pub fn reply(&self, mode: TpduReply, processing: Processing) -> Preamble {
        let (destination, source) = match mode {
            TpduReply::Swap => (self.source, self.destination),
            TpduReply::Echo => (self.destination, self.source),
        };
        Preamble {
            destination,
            source,
            processing,
            ..*self
        }
    }

    /// The 11 wire bytes.
    pub fn to_bytes(&self) -> [u8; PREAMBLE_BYTES] {
        let [d0, d1] = self.destination;
        let [s0, s1] = self.source;
        let [v0, v1, v2] = self.sub_version;
        let status = (self.status << 4) | self.processing as u8;
        [
            TPDU_ID,
            d0,
            d1,
            s0,
            s1,
            0x60,
            self.version,
            status,
            v0,
            v1,
            v2,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// vfwz/iso8583-parser PosMessageTest.java: `6000030000` + `603100310100`.
    const FIXTURE: [u8; 11] = [0x60, 0, 3, 0, 0, 0x60, 0x31, 0x00, 0x31, 0x01, 0x00];

    #[test]
    fn fixture_preamble_round_trips() {
        let p = Preamble::parse(&FIXTURE).unwrap();
        assert_eq!((p.destination, p.source), ([0, 3], [0, 0]));
        assert_eq!(p.processing, Processing::None);
        assert_eq!(p.to_bytes(), FIXTURE);
        let swapped = p.reply(TpduReply::Swap, Processing::SignOnAgain).to_bytes();
        assert_eq!(
            swapped,
            [0x60, 0, 0, 0, 3, 0x60, 0x31, 0x03, 0x31, 0x01, 0x00]
        );
        let echoed = p.reply(TpduReply::Echo, Processing::None).to_bytes();
        assert_eq!(echoed, FIXTURE);
        for n in 0..=7u8 {
            let mut b = FIXTURE;
            b[7] = 0x10 | n;
            let p = Preamble::parse(&b).unwrap();
            assert_eq!((p.status, p.processing as u8), (1, n));
        }
    }

    #[test]
    fn bad_preambles_are_typed_errors() {
        use PreambleError::*;
        let with = |at: usize, v: u8| {
            let mut b = FIXTURE;
            b[at] = v;
            Preamble::parse(&b)
        };
        assert_eq!(with(0, 0x61), Err(WrongTpduId { id: 0x61 }));
        assert_eq!(with(5, 0x61), Err(WrongHeaderType { value: 0x61 }));
        assert_eq!(with(6, 0x3A), Err(NotBcd { at: 1 }));
        assert_eq!(with(10, 0xF0), Err(NotBcd { at: 5 }));
        assert_eq!(with(7, 0x08), Err(UnknownProcessing { nibble: 8 }));
        for len in 0..PREAMBLE_BYTES {
            assert_eq!(Preamble::parse(&FIXTURE[..len]), Err(Truncated { len }));
        }
        // Addresses are binary: any value is accepted.
        assert!(with(1, 0xFF).is_ok());
    }
}

//! Link framing: a length prefix, an optional fixed header the host echoes back, then
//! the ISO 8583 message. Pure and incremental, so any transport (tokio, blocking, tests)
//! can drive it: feed what arrived, get a frame or "need more".
//!
//! Wire layout: `length | header (header_bytes) | body`, where `length` counts the header
//! and body bytes, not itself.

use std::ops::Range;

/// Largest frame accepted, header and body together (the length value), in bytes.
/// Bounds the per-connection read buffer; real POS messages are well under 1 KiB.
pub const FRAME_SIZE_MAX_BYTES: usize = 8192;

/// How the frame length is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LengthPrefix {
    /// 2-byte big-endian binary (the common TPDU-less POS link).
    #[default]
    Binary2,
    /// 4 ASCII decimal digits, e.g. `"0208"`.
    Ascii4,
}

impl LengthPrefix {
    /// Width of the prefix in bytes.
    pub fn width(self) -> usize {
        match self {
            Self::Binary2 => 2,
            Self::Ascii4 => 4,
        }
    }
}

/// A link's framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameFormat {
    pub prefix: LengthPrefix,
    /// Bytes of fixed header after the length (e.g. a 5-byte TPDU), kept for echoing.
    pub header_bytes: usize,
}

/// One complete frame found at the start of a buffer: ranges index that buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub header: Range<usize>,
    pub body: Range<usize>,
    /// Bytes to drop from the buffer to reach the next frame.
    pub consumed: usize,
}

/// The byte stream is not a valid frame sequence; the connection should be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame length {len} exceeds {max} bytes", max = FRAME_SIZE_MAX_BYTES)]
    TooLarge { len: usize },
    #[error("frame length is not 4 ASCII digits")]
    BadAsciiLength,
    #[error("frame length {len} is shorter than the {header_bytes}-byte header")]
    ShorterThanHeader { len: usize, header_bytes: usize },
    #[error("header is {len} bytes, the link expects {header_bytes}")]
    WrongHeader { len: usize, header_bytes: usize },
}

impl FrameFormat {
    /// Finds the first frame in `buf`: `Ok(None)` = incomplete, read more.
    pub fn parse(&self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        let width = self.prefix.width();
        let Some(prefix) = buf.get(..width) else {
            return Ok(None);
        };
        let len = match self.prefix {
            LengthPrefix::Binary2 => usize::from(u16::from_be_bytes([prefix[0], prefix[1]])),
            LengthPrefix::Ascii4 => {
                if !prefix.iter().all(u8::is_ascii_digit) {
                    return Err(FrameError::BadAsciiLength);
                }
                prefix
                    .iter()
                    .fold(0, |acc, &d| acc * 10 + usize::from(d - b'0'))
            }
        };
        if len > FRAME_SIZE_MAX_BYTES {
            return Err(FrameError::TooLarge { len });
        }
        if len < self.header_bytes {
            return Err(FrameError::ShorterThanHeader {
                len,
                header_bytes: self.header_bytes,
            });
        }
        let consumed = width + len;
        if buf.len() < consumed {
            return Ok(None);
        }
        let body_at = width + self.header_bytes;
        Ok(Some(Frame {
            header: width..body_at,
            body: body_at..consumed,
            consumed,
        }))
    }

    /// Appends one frame (`header` must be `header_bytes` long) to `out`.
    pub fn write(&self, header: &[u8], body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        if header.len() != self.header_bytes {
            return Err(FrameError::WrongHeader {
                len: header.len(),
                header_bytes: self.header_bytes,
            });
        }
        let len = header.len() + body.len();
        if len > FRAME_SIZE_MAX_BYTES {
            return Err(FrameError::TooLarge { len });
        }
        match self.prefix {
            // len <= FRAME_SIZE_MAX_BYTES < 10_000 fits both prefixes.
            LengthPrefix::Binary2 => out.extend_from_slice(&(len as u16).to_be_bytes()),
            LengthPrefix::Ascii4 => {
                for div in [1000, 100, 10, 1] {
                    out.push(b'0' + (len / div % 10) as u8);
                }
            }
        }
        out.extend_from_slice(header);
        out.extend_from_slice(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASCII_TPDU: FrameFormat = FrameFormat {
        prefix: LengthPrefix::Ascii4,
        header_bytes: 5,
    };

    #[test]
    fn binary_frames_are_parsed_incrementally() {
        let format = FrameFormat::default();
        let mut wire = Vec::new();
        format.write(&[], b"0800abc", &mut wire).unwrap();
        format.write(&[], b"", &mut wire).unwrap();
        assert_eq!(&wire[..2], &[0, 7]);
        for cut in 0..9 {
            assert_eq!(format.parse(&wire[..cut]), Ok(None), "cut {cut}");
        }
        let frame = format.parse(&wire).unwrap().unwrap();
        assert_eq!(
            (&wire[frame.body.clone()], frame.consumed),
            (&b"0800abc"[..], 9)
        );
        let empty = format.parse(&wire[9..]).unwrap().unwrap();
        assert_eq!((empty.body, empty.consumed), (2..2, 2));
    }

    #[test]
    fn ascii_frames_keep_the_header() {
        let mut wire = Vec::new();
        ASCII_TPDU
            .write(b"\x60\x00\x01\x00\x00", b"0810", &mut wire)
            .unwrap();
        assert_eq!(&wire[..4], b"0009");
        let frame = ASCII_TPDU.parse(&wire).unwrap().unwrap();
        assert_eq!(&wire[frame.header], b"\x60\x00\x01\x00\x00");
        assert_eq!(&wire[frame.body], b"0810");
    }

    #[test]
    fn malformed_lengths_are_errors() {
        let binary = FrameFormat::default();
        assert_eq!(
            binary.parse(&[0x20, 0x01]),
            Err(FrameError::TooLarge { len: 8193 })
        );
        assert_eq!(binary.parse(&[0x20, 0x00]), Ok(None));
        assert_eq!(ASCII_TPDU.parse(b"08a0"), Err(FrameError::BadAsciiLength));
        assert_eq!(
            ASCII_TPDU.parse(b"9999"),
            Err(FrameError::TooLarge { len: 9999 })
        );
        assert!(matches!(
            ASCII_TPDU.parse(b"0004"),
            Err(FrameError::ShorterThanHeader { .. })
        ));
        assert!(matches!(
            ASCII_TPDU.write(b"", b"", &mut Vec::new()),
            Err(FrameError::WrongHeader { .. })
        ));
        let big = vec![0; FRAME_SIZE_MAX_BYTES + 1];
        assert!(matches!(
            binary.write(&[], &big, &mut Vec::new()),
            Err(FrameError::TooLarge { .. })
        ));
    }
}

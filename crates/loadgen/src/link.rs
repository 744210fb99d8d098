//! One terminal's TCP connection: send a frame, read the next framed answer within a
//! deadline, reconnect with backoff.

use crate::message::{Answer, Check, read_answer};
use iso8583::Spec;
use iso8583::frame::{FRAME_SIZE_MAX_BYTES, Frame, FrameFormat};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 4096;
/// First wait after a failed connect; doubled after each failure up to the max.
const BACKOFF_FIRST_MS: u64 = 10;
const BACKOFF_MAX_MS: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("no answer in time")]
    Timeout,
    #[error("the host closed the connection")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("frame: {0}")]
    Frame(#[from] iso8583::frame::FrameError),
    #[error("decode the answer: {0}")]
    Decode(#[from] iso8583::DecodeError),
}

pub(crate) struct Link {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Link {
    pub(crate) async fn connect(addr: &str) -> std::io::Result<Link> {
        let stream = TcpStream::connect(addr).await?;
        // One small request at a time: Nagle would add a delayed-ACK wait to each.
        stream.set_nodelay(true)?;
        Ok(Link {
            stream,
            buf: Vec::with_capacity(READ_CHUNK_BYTES),
        })
    }

    /// Connects, retrying with backoff until `until`. None: still no connection.
    pub(crate) async fn connect_until(addr: &str, until: Instant) -> Option<Link> {
        let mut backoff = Duration::from_millis(BACKOFF_FIRST_MS);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if let Ok(Ok(link)) = tokio::time::timeout(left, Link::connect(addr)).await {
                return Some(link);
            }
            tokio::time::sleep(backoff.min(until.saturating_duration_since(Instant::now()))).await;
            backoff = (backoff * 2).min(Duration::from_millis(BACKOFF_MAX_MS));
        }
    }

    /// Sends one frame and reads one answer, checked as `check` says.
    pub(crate) async fn round_trip(
        &mut self,
        frame: &[u8],
        spec: &Spec,
        framing: FrameFormat,
        timeout: Duration,
        check: Check<'_>,
    ) -> Result<Answer, LinkError> {
        self.stream.write_all(frame).await?;
        let frame = self.read(framing, timeout).await?;
        let answer = read_answer(spec, &self.buf[frame.header], &self.buf[frame.body], check);
        self.buf.drain(..frame.consumed);
        Ok(answer?)
    }

    /// Sends one frame and returns the answer's fixed header and body, unread (a
    /// UnionPay sign-on answer carries the keys the terminal takes).
    pub(crate) async fn round_trip_raw(
        &mut self,
        frame: &[u8],
        framing: FrameFormat,
        timeout: Duration,
    ) -> Result<Vec<u8>, LinkError> {
        self.stream.write_all(frame).await?;
        let frame = self.read(framing, timeout).await?;
        let answer = self.buf[frame.header.start..frame.body.end].to_vec();
        self.buf.drain(..frame.consumed);
        Ok(answer)
    }

    /// Reads until a whole frame is buffered.
    async fn read(&mut self, framing: FrameFormat, timeout: Duration) -> Result<Frame, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            if let Some(frame) = framing.parse(&self.buf)? {
                return Ok(frame);
            }
            debug_assert!(self.buf.len() <= FRAME_SIZE_MAX_BYTES + 4);
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(LinkError::Timeout),
                Ok(Ok(0)) => return Err(LinkError::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }
}

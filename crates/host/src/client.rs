//! A terminal's side of the link: send one ISO 8583 request, read its answer. Used by
//! `posguard send`, the end-to-end tests and the upstream connector.

use crate::tls::ClientTls;
use iso8583::frame::FrameFormat;
use iso8583::{MessageBuilder, Spec};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect to {addr}: {error}")]
    Connect { addr: String, error: std::io::Error },
    #[error("TLS handshake with {addr}: {error}")]
    Tls { addr: String, error: std::io::Error },
    #[error("talk to the host: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the host closed the connection")]
    Closed,
    #[error("frame: {0}")]
    Frame(#[from] iso8583::frame::FrameError),
    #[error("encode the request: {0}")]
    Encode(#[from] iso8583::EncodeError),
    #[error("decode the answer: {0}")]
    Decode(#[from] iso8583::DecodeError),
}

/// An answer, decoded into its MTI and fields' python values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub mti: String,
    pub fields: BTreeMap<u8, String>,
}

impl Reply {
    /// Every field of a decoded message, as its text value.
    pub fn of(msg: &iso8583::Message<'_>) -> Reply {
        let fields = msg
            .fields()
            .filter_map(|n| msg.field_str(n).map(|v| (n, v.into_owned())))
            .collect();
        Reply {
            mti: msg.mti().into_owned(),
            fields,
        }
    }

    pub fn get(&self, n: u8) -> Option<&str> {
        self.fields.get(&n).map(String::as_str)
    }

    pub fn code(&self) -> &str {
        self.get(39).unwrap_or("")
    }
}

/// A byte stream to the host: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

pub struct TerminalClient {
    stream: Box<dyn Stream>,
    spec: Spec,
    framing: FrameFormat,
    buf: Vec<u8>,
    timeout: Duration,
}

impl TerminalClient {
    pub async fn connect(
        addr: &str,
        spec: Spec,
        framing: FrameFormat,
        timeout: Duration,
    ) -> Result<TerminalClient, ClientError> {
        let stream = tcp(addr).await?;
        Ok(TerminalClient::over(
            Box::new(stream),
            spec,
            framing,
            timeout,
        ))
    }

    /// Connects over TLS: the host's certificate must chain to `tls`'s CA bundle and
    /// name its server name; with a client certificate in `tls`, this is mutual TLS.
    /// The handshake must finish within `timeout`. (With TLS 1.3 a host that refuses
    /// the client's certificate says so at the first read, not here.)
    pub async fn connect_tls(
        addr: &str,
        tls: &ClientTls,
        spec: Spec,
        framing: FrameFormat,
        timeout: Duration,
    ) -> Result<TerminalClient, ClientError> {
        let stream = tcp(addr).await?;
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let handshake = connector.connect(tls.server_name.clone(), stream);
        let stream = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(|error| ClientError::Tls {
                addr: addr.to_owned(),
                error,
            })?;
        Ok(TerminalClient::over(
            Box::new(stream),
            spec,
            framing,
            timeout,
        ))
    }

    fn over(
        stream: Box<dyn Stream>,
        spec: Spec,
        framing: FrameFormat,
        timeout: Duration,
    ) -> TerminalClient {
        TerminalClient {
            stream,
            spec,
            framing,
            buf: Vec::with_capacity(1024),
            timeout,
        }
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Sends raw bytes (for tests of malformed input).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Encodes, frames and sends `msg`, then waits for one answer.
    pub async fn request(&mut self, msg: &MessageBuilder<'_>) -> Result<Reply, ClientError> {
        let mut body = Vec::with_capacity(256);
        msg.encode_into(&self.spec, &mut body)?;
        let header = vec![0u8; self.framing.header_bytes];
        let mut frame = Vec::with_capacity(body.len() + 8);
        self.framing.write(&header, &body, &mut frame)?;
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;
        self.read_reply().await
    }

    /// Frames and sends an encoded message body (e.g. one a DUKPT terminal has MACed),
    /// then returns the answer's body as it arrived, for the caller to verify its MAC.
    pub async fn request_body(&mut self, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let header = vec![0u8; self.framing.header_bytes];
        let mut frame = Vec::with_capacity(body.len() + 8);
        self.framing.write(&header, body, &mut frame)?;
        self.stream.write_all(&frame).await?;
        self.read_body().await
    }

    /// Reads one framed answer.
    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let body = self.read_body().await?;
        let msg = self.spec.decode(&body)?;
        Ok(Reply::of(&msg))
    }

    /// Reads one framed answer's body.
    pub async fn read_body(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(frame) = self.framing.parse(&self.buf)? {
                let body = self.buf[frame.body.clone()].to_vec();
                self.buf.drain(..frame.consumed);
                return Ok(body);
            }
            let read = tokio::time::timeout(self.timeout, self.stream.read(&mut chunk)).await;
            match read {
                Err(_) => return Err(ClientError::Timeout(self.timeout)),
                Ok(Ok(0)) => return Err(ClientError::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }
}

async fn tcp(addr: &str) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| ClientError::Connect {
            addr: addr.to_owned(),
            error,
        })?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

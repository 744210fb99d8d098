//! TLS for the terminal link and the HTTP API (rustls with the ring provider): server
//! configurations from PEM files, optional mutual TLS with a client CA bundle, the
//! handshake with a time limit, the `Transport` a handshake establishes, and the
//! terminal side's client configuration.
//!
//! Architecture Invariant: no private key byte reaches a log line, an error message or a
//! Debug output; errors name the file, never its content.

mod subject;

pub use subject::{CERT_DER_MAX_BYTES, SUBJECT_MAX_BYTES, subject_name};

use crate::config::ClientAuth;
use crate::link::Transport;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use zeroize::Zeroizing;

/// Default time a TLS handshake may take once the connection is accepted (ms).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// Largest PEM file read (a public CA bundle is about 220 KiB).
pub const PEM_FILE_MAX_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("TLS setting: {0}")]
    Setting(String),
    #[error("read {origin}: {error}")]
    Read {
        origin: String,
        error: std::io::Error,
    },
    #[error("{origin} is larger than {PEM_FILE_MAX_BYTES} bytes")]
    TooLarge { origin: String },
    #[error("{origin}: {problem}")]
    Pem {
        origin: String,
        problem: &'static str,
    },
    #[error("{origin} holds no certificate (PEM \"CERTIFICATE\")")]
    NoCertificate { origin: String },
    #[error("{origin} holds no private key (PEM PKCS#8, PKCS#1 or SEC1)")]
    NoKey { origin: String },
    #[error("client CA bundle {origin}: {error}")]
    ClientCa {
        origin: String,
        error: rustls::server::VerifierBuilderError,
    },
    #[error("certificate {cert} with key {key}: {error}")]
    Config {
        cert: String,
        key: String,
        error: rustls::Error,
    },
    #[error("CA bundle {origin}: {error}")]
    Roots {
        origin: String,
        error: rustls::Error,
    },
    #[error("TLS server name {0:?} is neither a DNS name nor an IP address")]
    ServerName(String),
    #[error("the TLS provider: {0}")]
    Provider(rustls::Error),
}

/// PEM text and where it came from (a file's path, or a description), for messages.
/// Zeroized on drop, and Debug shows only the origin: it may hold a private key.
pub struct Pem {
    origin: String,
    text: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem").field("origin", &self.origin).finish()
    }
}

impl Pem {
    pub fn new(origin: impl Into<String>, text: impl Into<Vec<u8>>) -> Pem {
        Pem {
            origin: origin.into(),
            text: Zeroizing::new(text.into()),
        }
    }

    /// Reads a PEM file of at most `PEM_FILE_MAX_BYTES`.
    pub fn read(path: &Path) -> Result<Pem, TlsError> {
        let origin = path.display().to_string();
        let read = |error| TlsError::Read {
            origin: origin.clone(),
            error,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let mut text = Zeroizing::new(Vec::new());
        file.take(PEM_FILE_MAX_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(read)?;
        if text.len() as u64 > PEM_FILE_MAX_BYTES {
            return Err(TlsError::TooLarge { origin });
        }
        Ok(Pem { origin, text })
    }

    /// Every certificate, in order; at least one.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&self.text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.pem_error(&e))?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate {
                origin: self.origin.clone(),
            });
        }
        Ok(certs)
    }

    /// The first private key.
    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&self.text).map_err(|e| match e {
            pem::Error::NoItemsFound => TlsError::NoKey {
                origin: self.origin.clone(),
            },
            e => self.pem_error(&e),
        })
    }

    /// The PEM parser's errors, without the text they quote (it may be key material).
    fn pem_error(&self, e: &pem::Error) -> TlsError {
        let problem = match e {
            pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
            pem::Error::IllegalSectionStart { .. } => "a malformed PEM BEGIN line",
            pem::Error::Base64Decode(_) => "invalid base64 in a PEM section",
            pem::Error::NoItemsFound => "no PEM section of the expected kind",
            pem::Error::SectionTooLarge => "a PEM section is too large",
            _ => "unreadable PEM",
        };
        TlsError::Pem {
            origin: self.origin.clone(),
            problem,
        }
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in self.certificates()? {
            roots.add(cert).map_err(|error| TlsError::Roots {
                origin: self.origin.clone(),
                error,
            })?;
        }
        Ok(Arc::new(roots))
    }
}

/// The one cryptography provider posguard uses (ring; no process-wide default).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where a TLS listener's certificate chain, key and client CA bundle are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Set: clients are asked for a certificate that chains to this bundle.
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

/// A server configuration from the files (TLS 1.3 and 1.2, ring's cipher suites).
pub fn server_config(files: &ServerFiles) -> Result<ServerConfig, TlsError> {
    let cert = Pem::read(&files.cert)?;
    let key = Pem::read(&files.key)?;
    let client_ca = files.client_ca.as_deref().map(Pem::read).transpose()?;
    server_config_from(&cert, &key, client_ca.as_ref(), files.client_auth)
}

/// A server configuration from PEM text (the certificate chain, its key, and for mutual
/// TLS the client CA bundle).
pub fn server_config_from(
    cert: &Pem,
    key: &Pem,
    client_ca: Option<&Pem>,
    client_auth: ClientAuth,
) -> Result<ServerConfig, TlsError> {
    let chain = cert.certificates()?;
    let private_key = key.private_key()?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Provider)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(ca.roots()?, provider());
            let verifier = match client_auth {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier.build().map_err(|error| TlsError::ClientCa {
                origin: ca.origin.clone(),
                error,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(chain, private_key)
        .map_err(|error| config_error(cert, key, error))
}

fn config_error(cert: &Pem, key: &Pem, error: rustls::Error) -> TlsError {
    TlsError::Config {
        cert: cert.origin.clone(),
        key: key.origin.clone(),
        error,
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("no TLS handshake within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake: {0}")]
    Failed(std::io::Error),
}

/// Accepts TLS connections: the handshake, bounded in time, and what it proved.
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
}

impl Acceptor {
    pub fn new(config: Arc<ServerConfig>, handshake_timeout: Duration) -> Acceptor {
        Acceptor {
            inner: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout,
        }
    }

    /// Runs the server side of the handshake on `stream`.
    pub async fn accept<S>(
        &self,
        stream: S,
    ) -> Result<(tokio_rustls::server::TlsStream<S>, Transport), HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = self.inner.accept(stream);
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Err(_) => Err(HandshakeError::Timeout(self.handshake_timeout)),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Ok(Ok(stream)) => {
                let transport = transport(stream.get_ref().1);
                Ok((stream, transport))
            }
        }
    }
}

/// What a finished handshake proved: a verified client certificate names its holder
/// (`MutualTls`); without one, or with one that has no usable name, it is `Tls`.
/// rustls only reports client certificates that chained to the client CA.
pub fn transport(conn: &rustls::ServerConnection) -> Transport {
    let Some(cert) = conn.peer_certificates().and_then(<[_]>::first) else {
        return Transport::Tls;
    };
    match subject_name(cert) {
        Some(subject) => Transport::MutualTls { subject },
        None => {
            tracing::warn!("a verified client certificate has no usable common name or DNS name");
            Transport::Tls
        }
    }
}

/// A terminal's TLS settings: whom to trust, the name to expect, and for mutual TLS
/// its own certificate and key.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl ClientTls {
    /// `ca`: the bundle the host's certificate chains to; `server_name`: a DNS name or
    /// an IP address the host's certificate must name; `identity`: certificate chain and
    /// key for mutual TLS.
    pub fn new(
        server_name: &str,
        ca: &Pem,
        identity: Option<(&Pem, &Pem)>,
    ) -> Result<ClientTls, TlsError> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::ServerName(server_name.to_owned()))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Provider)?
            .with_root_certificates(ca.roots()?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(cert.certificates()?, key.private_key()?)
                .map_err(|error| config_error(cert, key, error))?,
        };
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }
}

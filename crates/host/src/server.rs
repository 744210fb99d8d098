//! Starting posguard: open the store, rebuild the engine, start the pipeline, bind the
//! terminal link and the HTTP API.

use crate::config::Config;
use crate::keys::{CardKeys, KeyFileError};
use crate::link::{self, LinkContext};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::tls;
use engine::{Engine, EngineConfig};
use iso8583::Spec;
use iso8583::frame::{FrameFormat, LengthPrefix};
use model::{ApiToken, Currency, TimestampMs, Write};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("open the store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Keys(#[from] KeyFileError),
    #[error("load the field spec {spec}: {error}")]
    Spec {
        spec: String,
        error: iso8583::SpecError,
    },
    #[error("link.framing must be binary2 or ascii4, not {0:?}")]
    Framing(String),
    #[error("link.default_currency {0} is not an ISO 4217 numeric code")]
    Currency(u16),
    #[error("{0}")]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("bind {what} on {addr}: {error}")]
    Bind {
        what: &'static str,
        addr: String,
        error: std::io::Error,
    },
}

/// Everything the edges share.
pub struct App {
    pub store: Arc<dyn Store>,
    pub pipeline: Pipeline,
    pub keys: Arc<CardKeys>,
    pub metrics: Arc<Metrics>,
    pub config: Config,
    /// The upstream connector, when one is configured.
    pub upstream: Option<Arc<crate::upstream::Upstream>>,
    /// SHA-256 of API tokens already found in the store (a cache; the store decides).
    pub token_hashes: std::sync::RwLock<std::collections::HashSet<String>>,
}

/// A running posguard: where it listens, and the admin token if this start made one.
pub struct Running {
    pub app: Arc<App>,
    pub link_addr: SocketAddr,
    /// The terminal link's TLS listener, when `link.tls_listen` is set.
    pub link_tls_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    pub new_admin_token: Option<String>,
}

/// Pending connections the kernel queues for a listener. A fleet reconnecting at once
/// (after a restart) must not see SYNs dropped and wait a second for a retry.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (host:port, names resolved) with a deep accept backlog.
async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address");
    for resolved in tokio::net::lookup_host(addr).await? {
        let socket = if resolved.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket
            .bind(resolved)
            .and_then(|()| socket.listen(LISTEN_BACKLOG))
        {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

pub fn now_ms() -> TimestampMs {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

pub fn load_spec(name: &str) -> Result<Spec, StartError> {
    match name {
        "posguard-ascii" => Ok(Spec::posguard_ascii()),
        "posguard-binary" => Ok(Spec::posguard_binary()),
        path => Spec::load(path).map_err(|error| StartError::Spec {
            spec: path.to_owned(),
            error,
        }),
    }
}

fn framing(config: &Config) -> Result<FrameFormat, StartError> {
    let prefix = match config.link.framing.as_str() {
        "binary2" => LengthPrefix::Binary2,
        "ascii4" => LengthPrefix::Ascii4,
        other => return Err(StartError::Framing(other.to_owned())),
    };
    Ok(FrameFormat {
        prefix,
        header_bytes: config.link.header_bytes,
    })
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Creates the first admin token when the store has none. Only its hash is kept.
fn ensure_admin_token(store: &dyn Store) -> Result<Option<String>, store::StoreError> {
    if store.api_token_count()? > 0 {
        return Ok(None);
    }
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("pgt_{}", hex::encode(secret));
    let record = ApiToken {
        id: "admin".into(),
        sha256_hex: sha256_hex(&token),
        role: "admin".into(),
        created_ms: now_ms(),
    };
    store.commit(&[Write::ApiToken(record)])?;
    Ok(Some(token))
}

/// Opens the store, rebuilds the engine and starts listening. Must run inside a
/// multi-threaded tokio runtime.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let (link_tls, http_tls) = (link_tls(&config)?, http_tls(&config)?);
    std::fs::create_dir_all(&config.data_dir).map_err(|e| KeyFileError::Io {
        path: config.data_dir.display().to_string(),
        source: e,
    })?;
    // The store's calls block (the PostgreSQL client runs its own runtime): open and
    // load it off the async workers.
    let url = config.store_url();
    let journal = config.journal;
    let segment_mib = config.journal_segment_mib;
    let (store, new_admin_token, snapshot) = tokio::task::spawn_blocking(move || {
        let options = store::OpenOptions {
            journal,
            journal_segment_bytes: segment_mib << 20,
        };
        let store: Arc<dyn Store> = Arc::from(store::open_with(&url, options)?);
        let token = ensure_admin_token(store.as_ref())?;
        let snapshot = store.load()?;
        Ok::<_, store::StoreError>((store, token, snapshot))
    })
    .await
    .map_err(|e| {
        StartError::Store(store::StoreError::new(
            store::StoreErrorKind::Io,
            format!("open the store: {e}"),
        ))
    })??;
    let keys = Arc::new(CardKeys::load_or_create(&config.data_dir.join("keys"))?);
    let spec = load_spec(&config.link.spec)?;
    let framing = framing(&config)?;
    let currency = Currency(config.link.default_currency);
    if currency.0 == 0 || currency.0 > 999 {
        return Err(StartError::Currency(currency.0));
    }
    let engine = Engine::new(
        snapshot,
        &EngineConfig {
            utc_offset_secs: config.utc_offset_minutes * 60,
        },
    );
    let metrics = Arc::new(Metrics::default());
    let pipeline = Pipeline::start(engine, store.clone(), metrics.clone(), now_ms);
    let bind = |what: &'static str, addr: &str| {
        let addr = addr.to_owned();
        async move {
            let bound = match listen(&addr).await {
                Ok(listener) => listener.local_addr().map(|local| (listener, local)),
                Err(e) => Err(e),
            };
            bound.map_err(|error| StartError::Bind { what, addr, error })
        }
    };
    let (link_listener, link_addr) = bind("the terminal link", &config.link.listen).await?;
    let (http_listener, http_addr) = bind("the HTTP API", &config.http.listen).await?;
    let link_tls = match link_tls {
        Some((addr, acceptor)) => {
            let (listener, addr) = bind("the terminal link (TLS)", &addr).await?;
            Some((listener, addr, acceptor))
        }
        None => None,
    };
    let upstream = match &config.upstream {
        Some(u) => Some(crate::upstream::Upstream::start(u)?),
        None => None,
    };
    let link_ctx = Arc::new(LinkContext {
        spec,
        framing,
        keys: keys.clone(),
        pipeline: pipeline.clone(),
        metrics: metrics.clone(),
        default_currency: currency,
        idle_timeout: Duration::from_millis(config.link.idle_timeout_ms),
        frame_timeout: Duration::from_millis(config.link.frame_timeout_ms),
        connections_max: config.link.connections_max,
        upstream: upstream.clone(),
    });
    // One budget of connections for both of the link's listeners.
    let permits = Arc::new(Semaphore::new(config.link.connections_max));
    let link_tls_addr = match link_tls {
        Some((listener, addr, acceptor)) => {
            let serve = link::serve_tls(listener, acceptor, link_ctx.clone(), permits.clone());
            tokio::spawn(serve);
            Some(addr)
        }
        None => None,
    };
    tokio::spawn(link::serve(link_listener, link_ctx, permits));
    let app = Arc::new(App {
        store,
        pipeline,
        keys,
        metrics,
        config,
        upstream,
        token_hashes: Default::default(),
    });
    tokio::spawn(resume_upstream_reversals(app.clone()));
    match http_tls {
        Some(acceptor) => {
            tokio::spawn(crate::http::serve_tls(http_listener, acceptor, app.clone()))
        }
        None => tokio::spawn(crate::http::serve(http_listener, app.clone())),
    };
    tracing::info!(%link_addr, ?link_tls_addr, %http_addr, "posguard is serving");
    Ok(Running {
        app,
        link_addr,
        link_tls_addr,
        http_addr,
        new_admin_token,
    })
}

/// The link's TLS listen address and acceptor, when `link.tls_listen` is set. The
/// files are read now, so a bad one stops the start.
fn link_tls(config: &Config) -> Result<Option<(String, tls::Acceptor)>, StartError> {
    let Some((addr, files)) = config.link.tls()? else {
        return Ok(None);
    };
    let timeout = Duration::from_millis(config.link.tls_handshake_timeout_ms);
    let server = Arc::new(tls::server_config(&files)?);
    Ok(Some((addr, tls::Acceptor::new(server, timeout))))
}

/// The HTTP API's TLS acceptor (HTTP/1.1 by ALPN), when `http.tls_cert` is set.
fn http_tls(config: &Config) -> Result<Option<tls::Acceptor>, StartError> {
    let Some(files) = config.http.tls()? else {
        return Ok(None);
    };
    let mut server = tls::server_config(&files)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let timeout = Duration::from_millis(tls::HANDSHAKE_TIMEOUT_MS);
    Ok(Some(tls::Acceptor::new(Arc::new(server), timeout)))
}

/// Sends again the reversals the upstream had not acknowledged when posguard stopped.
async fn resume_upstream_reversals(app: Arc<App>) {
    let Some(upstream) = app.upstream.clone() else {
        return;
    };
    let store = app.store.clone();
    let owed = tokio::task::spawn_blocking(move || {
        let intents = store.meta_with_prefix(crate::upstream::INTENT_PREFIX)?;
        let mut owed = Vec::new();
        for (key, state) in intents {
            let id = key
                .strip_prefix(crate::upstream::INTENT_PREFIX)
                .and_then(|id| id.parse().ok());
            if let (Some(id), crate::upstream::INTENT_PENDING) = (id, state.as_str())
                && let Some(txn) = store.txn(model::TxnId(id))?
            {
                owed.push(txn);
            }
        }
        Ok::<_, store::StoreError>(owed)
    })
    .await;
    match owed {
        Ok(Ok(owed)) => {
            if !owed.is_empty() {
                tracing::info!(
                    count = owed.len(),
                    "resend reversals the upstream had not acknowledged"
                );
            }
            for txn in owed {
                upstream.reverse(&txn, app.pipeline.clone());
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "read the reversals owed to the upstream"),
        Err(e) => tracing::error!(error = %e, "read the reversals owed to the upstream"),
    }
}

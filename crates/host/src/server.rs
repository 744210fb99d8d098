//! Starting posguard: open the store, rebuild the engine, start the pipeline, bind the
//! terminal link and the HTTP API.

use crate::config::Config;
use crate::keyring::{KekOrigin, Keyring, KeyringError};
use crate::keys::CardKeys;
use crate::link::{self, LinkContext};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::security::Security;
use crate::security::pin::{PIN_META_PREFIX, PinRecord};
use crate::security::profile::{PROFILE_META_PREFIX, Profile};
use crate::tls;
use crate::vault::Vault;
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
    #[error(transparent)]
    Keys(#[from] KeyringError),
    #[error("create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("load the field spec {spec}: {error}")]
    Spec {
        spec: String,
        error: iso8583::SpecError,
    },
    #[error("link.framing must be binary2 or ascii4, not {0:?}")]
    Framing(String),
    #[error("link profile: {0} is not supported")]
    Profile(String),
    #[error("link.default_currency {0} is not an ISO 4217 numeric code")]
    Currency(u16),
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    #[error("risk control: {0}")]
    Risk(String),
    #[error("webhooks: {0}")]
    Webhooks(String),
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
    /// The keystore (every key wrapped under the KEK).
    pub keyring: Arc<Keyring>,
    /// The terminal security gate: profiles, PIN records, DUKPT key cache.
    pub security: Arc<Security>,
    /// Sealed PANs and merchants' personal data (AES-256-GCM under keystore keys).
    pub vault: Arc<crate::vault::Vault>,
    /// Risk control's rule set and schema, when it runs.
    pub risk: Option<crate::risk::RiskHandle>,
    /// Signed webhooks about alerts and cases.
    pub hooks: Arc<crate::hooks::Hooks>,
    /// SHA-256 of API tokens already found in the store (a cache; the store decides).
    pub token_hashes: std::sync::RwLock<std::collections::HashMap<String, String>>,
}

impl App {
    /// Whether the keystore holds a BDK with this id.
    pub fn bdk_known(&self, id: &str) -> bool {
        self.keyring
            .read()
            .info(id)
            .is_some_and(|info| info.usage == keystore::Usage::Bdk)
    }
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
        "unionpay" => Ok(Spec::unionpay()),
        path => Spec::load(path).map_err(|error| StartError::Spec {
            spec: path.to_owned(),
            error,
        }),
    }
}

/// The UnionPay profile of the link, when `link.profile = "unionpay"`.
fn unionpay_profile(
    config: &Config,
    keyring: &Arc<Keyring>,
    spec: &Spec,
) -> Result<Option<Arc<crate::unionpay::UnionPay>>, StartError> {
    use iso8583::unionpay::TpduReply;
    let bad = |what: &str| StartError::Profile(what.to_owned());
    let only = match config.link.profile.as_str() {
        "generic" => return Ok(None),
        "unionpay" => true,
        // Told apart by the first byte after the length: no fixed header may sit there.
        "auto" if config.link.header_bytes == 0 => false,
        "auto" => return Err(bad("link.profile \"auto\" with link.header_bytes > 0")),
        other => return Err(bad(&format!("link.profile {other:?}"))),
    };
    let reply = match config.link.unionpay_tpdu_reply.as_str() {
        "swap" => TpduReply::Swap,
        "echo" => TpduReply::Echo,
        other => return Err(bad(&format!("link.unionpay_tpdu_reply {other:?}"))),
    };
    let name = config.link.unionpay_mac.as_str();
    let mac = crate::unionpay::mac_scheme(name)
        .ok_or_else(|| bad(&format!("link.unionpay_mac {name:?}")))?;
    let rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    let mut up = crate::unionpay::UnionPay::new(reply, mac, keyring.clone(), rng);
    up.only = only;
    if only {
        up.spec = spec.clone();
    }
    Ok(Some(Arc::new(up)))
}

fn framing(config: &Config) -> Result<FrameFormat, StartError> {
    let prefix = match config.link.framing.as_str() {
        "binary2" => LengthPrefix::Binary2,
        "ascii4" => LengthPrefix::Ascii4,
        other => return Err(StartError::Framing(other.to_owned())),
    };
    // The UnionPay TPDU and header ride where a fixed header would: the profile reads
    // them and writes the reply's.
    let header_bytes = match config.link.profile.as_str() {
        "unionpay" => iso8583::unionpay::PREAMBLE_BYTES,
        _ => config.link.header_bytes,
    };
    Ok(FrameFormat {
        prefix,
        header_bytes,
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
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    // The store's calls block (the PostgreSQL client runs its own runtime): open and
    // load it off the async workers.
    let url = config.store_url();
    let journal = config.journal;
    let segment_mib = config.journal_segment_mib;
    let (store, new_admin_token, (mut snapshot, stored_rules, stored_endpoints, areas)) =
        tokio::task::spawn_blocking(move || {
            let options = store::OpenOptions {
                journal,
                journal_segment_bytes: segment_mib << 20,
                ..Default::default()
            };
            let store: Arc<dyn Store> = Arc::from(store::open_with(&url, options)?);
            let token = ensure_admin_token(store.as_ref())?;
            let snapshot = store.load()?;
            let rules = store.meta_get(crate::risk::RULES_META_KEY)?;
            let endpoints = store.meta_get(crate::hooks::ENDPOINTS_META_KEY)?;
            let areas = store.meta_with_prefix(crate::risk::AREA_META_PREFIX)?;
            Ok::<_, store::StoreError>((store, token, (snapshot, rules, endpoints, areas)))
        })
        .await
        .map_err(|e| {
            StartError::Store(store::StoreError::new(
                store::StoreErrorKind::Io,
                format!("open the store: {e}"),
            ))
        })??;
    let (keyring, keys, security, vault) = open_keys(&config, store.clone()).await?;
    let (hooks, hook_writes, dead_letters) = crate::hooks::Hooks::start(
        &keyring,
        config.webhooks.clone(),
        stored_endpoints.as_deref(),
        now_ms(),
    )
    .map_err(StartError::Webhooks)?;
    if !hook_writes.is_empty() {
        let writes: Vec<Write> = hook_writes
            .into_iter()
            .map(|(key, value)| Write::Meta { key, value })
            .collect();
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.commit(&writes))
            .await
            .map_err(|e| StartError::Webhooks(e.to_string()))??;
    }
    let hooks = Arc::new(hooks);
    let spec = match (config.link.profile.as_str(), config.link.spec.as_str()) {
        ("unionpay", "posguard-ascii") => Spec::unionpay(),
        (_, spec) => load_spec(spec)?,
    };
    let framing = framing(&config)?;
    let currency = Currency(config.link.default_currency);
    if currency.0 == 0 || currency.0 > 999 {
        return Err(StartError::Currency(currency.0));
    }
    let metrics = Arc::new(Metrics::default());
    let stored_risk = crate::risk::Stored {
        rules: stored_rules,
        cases: crate::risk::CaseState {
            last_alert_id: snapshot.last_alert_id,
            last_case_id: snapshot.last_case_id,
            last_case_event_id: snapshot.last_case_event_id,
            open_cases: std::mem::take(&mut snapshot.open_cases),
        },
        labels: std::mem::take(&mut snapshot.labels),
        contexts: std::mem::take(&mut snapshot.txn_contexts),
        areas,
    };
    let mut engine = Engine::new(
        snapshot,
        &EngineConfig {
            utc_offset_secs: config.utc_offset_minutes * 60,
        },
    );
    let stored_model = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            store.meta_get(crate::risk::fraud_model::MODEL_META_KEY)
        })
        .await
        .map_err(|e| StartError::Risk(format!("read the installed model: {e}")))??
    };
    let risk = match config.risk.enabled {
        true => Some(
            crate::risk::start(
                &mut engine,
                &config,
                stored_risk,
                {
                    let hooks = hooks.clone();
                    Arc::new(move |kind: &str, payload| hooks.emit(kind, payload))
                },
                metrics.clone(),
            )
            .and_then(|h| h.with_model(stored_model.as_deref()))?,
        ),
        false => None,
    };
    let pipeline = Pipeline::start(engine, store.clone(), metrics.clone(), config.clock.clone());
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
    let unionpay = unionpay_profile(&config, &keyring, &spec)?;
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
        security: security.clone(),
        upstream_zpk: upstream_zpk(&config, &keyring)?,
        vault: vault.clone(),
        store: store.clone(),
        unionpay,
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
        keyring,
        security,
        vault,
        risk,
        hooks,
        token_hashes: Default::default(),
    });
    tokio::spawn(resume_upstream_reversals(app.clone()));
    tokio::spawn(crate::hooks::record_dead_letters(
        dead_letters,
        app.pipeline.clone(),
    ));
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

/// Opens the keystore under the KEK (making and committing the host's own keys on first
/// start), and loads the security gate's terminal profiles and PIN records.
async fn open_keys(
    config: &Config,
    store: Arc<dyn Store>,
) -> Result<(Arc<Keyring>, Arc<CardKeys>, Arc<Security>, Arc<Vault>), StartError> {
    let origin = KekOrigin::choose(config.kek_file.as_deref(), config.demo, &config.data_dir);
    let data_dir = config.data_dir.clone();
    let blocking = tokio::task::spawn_blocking(move || {
        let mut keys = store.meta_with_prefix(keystore::KEY_META_PREFIX)?;
        if let Some(kcv) = store.meta_get(keystore::KEK_KCV_META_KEY)? {
            keys.push((keystore::KEK_KCV_META_KEY.to_owned(), kcv));
        }
        let mut rest = store.meta_with_prefix(PROFILE_META_PREFIX)?;
        rest.extend(store.meta_with_prefix(PIN_META_PREFIX)?);
        let mut opened = Keyring::open(origin, keys, &data_dir, now_ms())?;
        let (vault, vault_writes) = Vault::open(&opened.keyring, now_ms())
            .map_err(|e| KeyringError::Vault(e.to_string()))?;
        opened.writes.extend(vault_writes);
        for (key, _) in store.meta_with_prefix(crate::vault::PAN_META_PREFIX)? {
            vault.mark_vaulted(&key[crate::vault::PAN_META_PREFIX.len()..]);
        }
        if !opened.writes.is_empty() {
            let writes: Vec<Write> = opened
                .writes
                .iter()
                .map(|(key, value)| Write::Meta {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect();
            store.commit(&writes)?;
        }
        Keyring::retire_legacy_token_key(&data_dir);
        Ok::<_, KeyringError>((opened, rest, vault))
    });
    let (opened, meta, vault) = blocking.await.map_err(|e| {
        StartError::Store(store::StoreError::new(
            store::StoreErrorKind::Io,
            format!("open the keystore: {e}"),
        ))
    })??;
    let keys = CardKeys::new(&opened.token_key).ok_or({
        StartError::Keys(KeyringError::Keystore(
            keystore::KeystoreError::NotPermitted {
                what: "the PAN token key must be 32 bytes",
            },
        ))
    })?;
    let security = Security::new(opened.keyring.clone(), opened.pin_keys);
    load_security(&security, meta);
    Ok((
        opened.keyring,
        Arc::new(keys),
        Arc::new(security),
        Arc::new(vault),
    ))
}

/// The upstream's zone PIN key, when one is configured: it must be in the keystore.
fn upstream_zpk(
    config: &Config,
    keyring: &Keyring,
) -> Result<Option<paycrypto::TdesKey>, StartError> {
    let Some(id) = config.upstream.as_ref().and_then(|u| u.zpk.as_deref()) else {
        return Ok(None);
    };
    let key = keyring
        .read()
        .tdes(id, keystore::Usage::ZonePin)
        .map_err(|e| StartError::Keys(KeyringError::Keystore(e)))?;
    Ok(Some(key))
}

/// Terminal profiles and PIN records from the store's metadata. A record that does not
/// parse is logged and skipped (its terminal then has no profile: it is refused if the
/// engine does not know it, and its MACs are not checked — so it is an error in the log).
fn load_security(security: &Security, meta: Vec<(String, String)>) {
    for (key, value) in meta {
        if let Some(terminal) = key.strip_prefix(PROFILE_META_PREFIX) {
            match serde_json::from_str::<Profile>(&value) {
                Ok(profile) => security.set_profile(terminal, profile),
                Err(e) => {
                    tracing::error!(%terminal, error = %e, "load a terminal security profile")
                }
            }
        } else if let Some(token) = key.strip_prefix(PIN_META_PREFIX) {
            match serde_json::from_str::<PinRecord>(&value) {
                Ok(record) => security.set_pin(token, record),
                Err(e) => tracing::error!(error = %e, "load a card's PIN verification record"),
            }
        }
    }
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
                let pan = match &txn.card_token {
                    Some(token) => {
                        let (store, vault, token) =
                            (app.store.clone(), app.vault.clone(), token.0.clone());
                        tokio::task::spawn_blocking(move || {
                            crate::vault::recover_pan(store.as_ref(), &vault, &token)
                        })
                        .await
                        .ok()
                        .flatten()
                    }
                    None => None,
                };
                upstream.reverse(&txn, pan, app.pipeline.clone());
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "read the reversals owed to the upstream"),
        Err(e) => tracing::error!(error = %e, "read the reversals owed to the upstream"),
    }
}

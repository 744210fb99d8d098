//! posguard's settings. The binary fills them from a TOML file, environment variables
//! and flags, in that order of precedence (flags win).

use crate::tls::{ServerFiles, TlsError};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database and the key files live.
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://...`; default: SQLite in `data_dir`.
    pub store_url: Option<String>,
    pub link: LinkConfig,
    pub http: HttpConfig,
    /// Merchants' offset from UTC in minutes, for daily limits (default +480, China).
    pub utc_offset_minutes: i64,
    /// The issuer or network host to forward authorizations to; none: posguard is the
    /// stand-in issuer for every card.
    pub upstream: Option<UpstreamConfig>,
    /// Embedded database: answers wait for an fsync'd journal record and the database
    /// is updated in the background (default). Off: they wait for SQLite's own commit.
    /// PostgreSQL always commits directly (its synchronous commit is the durability).
    pub journal: bool,
    /// Journal segments are preallocated files of this size (MiB).
    pub journal_segment_mib: u64,
    /// The master key-encrypting key: a file of 64 hex digits (mode 0600). Without it,
    /// the environment variable `POSGUARD_KEK`; without that, only a demo starts (with
    /// a KEK it creates in `data_dir`).
    pub kek_file: Option<String>,
    /// A demo or test start: may create its own KEK in `data_dir`.
    pub demo: bool,
    /// Risk control in the authorization path.
    pub risk: RiskConfig,
    /// Signed webhooks about alerts and cases (endpoints are also set over the API).
    pub webhooks: crate::webhooks::WebhookConfig,
    /// Where transactions get their time: the system clock, or a test's (never from a
    /// configuration file).
    #[serde(skip)]
    pub clock: Clock,
}

/// The clock the authorizer reads once per batch for its transactions' time.
#[derive(Clone)]
pub struct Clock(std::sync::Arc<dyn Fn() -> model::TimestampMs + Send + Sync>);

impl Clock {
    /// A clock of one's own (tests move time on to reach windows of hours or days).
    pub fn new(now: impl Fn() -> model::TimestampMs + Send + Sync + 'static) -> Clock {
        Clock(std::sync::Arc::new(now))
    }

    pub fn now(&self) -> model::TimestampMs {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new(crate::server::now_ms)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Score every transaction (default true).
    pub enabled: bool,
    /// When risk control itself fails: `open` (default: the issuer's checks decide and
    /// an alert is raised) or `closed` (decline 96).
    pub fail: crate::risk::FailMode,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            enabled: true,
            fail: crate::risk::FailMode::Open,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("posguard-data"),
            store_url: None,
            link: LinkConfig::default(),
            http: HttpConfig::default(),
            utc_offset_minutes: 480,
            upstream: None,
            journal: true,
            journal_segment_mib: 64,
            kek_file: None,
            demo: false,
            risk: RiskConfig::default(),
            webhooks: Default::default(),
            clock: Clock::default(),
        }
    }
}

impl Config {
    pub fn store_url(&self) -> String {
        match &self.store_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("posguard.db").display()),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    pub listen: String,
    /// `binary2` (2-byte big-endian length, default) or `ascii4` (4 ASCII digits).
    pub framing: String,
    /// Bytes of fixed header after the length, echoed back in replies.
    pub header_bytes: usize,
    /// `posguard-ascii`, `posguard-binary`, or the path of a pyiso8583-layout JSON spec.
    pub spec: String,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout_ms: u64,
    /// A frame must arrive whole within this long once it has started.
    pub frame_timeout_ms: u64,
    /// Connections beyond this are accepted and closed at once.
    pub connections_max: usize,
    /// Currency when a request has no field 49 (ISO 4217 numeric).
    pub default_currency: u16,
    /// A second listener that speaks TLS (off unless set, with `tls_cert` and `tls_key`).
    /// Plain TCP stays on `listen` for terminals that cannot do TLS.
    pub tls_listen: Option<String>,
    /// PEM certificate chain of the TLS listener (the host's certificate first).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the TLS listener (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle for client certificates: set, the listener asks terminals for one
    /// (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// `required` (default with `tls_client_ca`) or `optional` (terminals without a
    /// certificate are let in; their profile decides).
    pub tls_client_auth: Option<ClientAuth>,
    /// A TLS handshake must finish within this long after the connection is accepted.
    pub tls_handshake_timeout_ms: u64,
    /// `generic` (default) or `unionpay`: TPDU + 6-byte header framing, the UnionPay
    /// field spec (unless `spec` names a file), sign-on keys and the UnionPay MAC.
    /// `auto`: both on one listener, each frame by its first byte (the UnionPay TPDU id
    /// 0x60); a terminal's security profile `dialect` then pins the one it may speak.
    pub profile: String,
    /// UnionPay replies' TPDU: `swap` the addresses (default) or `echo` them.
    pub unionpay_tpdu_reply: String,
    /// UnionPay MAC: `ecb` (default), `ecb-3des`, `x9.19` or `x9.9`.
    pub unionpay_mac: String,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            listen: "127.0.0.1:8583".into(),
            framing: "binary2".into(),
            header_bytes: 0,
            spec: "posguard-ascii".into(),
            idle_timeout_ms: 120_000,
            frame_timeout_ms: 10_000,
            connections_max: 20_000,
            default_currency: 156,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_auth: None,
            tls_handshake_timeout_ms: crate::tls::HANDSHAKE_TIMEOUT_MS,
            profile: "generic".into(),
            unionpay_tpdu_reply: "swap".into(),
            unionpay_mac: "ecb".into(),
        }
    }
}

impl LinkConfig {
    /// The TLS listener's address and files; None when `tls_listen` is not set. A TLS
    /// setting without `tls_listen` is an error rather than silently plain.
    pub fn tls(&self) -> Result<Option<(String, ServerFiles)>, TlsError> {
        let files = server_files(
            "link",
            &self.tls_cert,
            &self.tls_key,
            &self.tls_client_ca,
            self.tls_client_auth,
        );
        match (&self.tls_listen, files) {
            (Some(listen), Ok(Some(files))) => Ok(Some((listen.clone(), files))),
            (Some(_), Ok(None)) => Err(TlsError::Setting(
                "link.tls_listen needs link.tls_cert and link.tls_key".into(),
            )),
            (None, Ok(None)) => Ok(None),
            (None, Ok(Some(_))) => Err(TlsError::Setting(
                "link.tls_cert is set but link.tls_listen is not".into(),
            )),
            (_, Err(e)) => Err(e),
        }
    }
}

/// Whether a TLS listener demands a client certificate (when it has a client CA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    Optional,
    Required,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "optional" => Ok(ClientAuth::Optional),
            "required" => Ok(ClientAuth::Required),
            other => Err(format!("optional or required, not {other:?}")),
        }
    }
}

/// A listener's TLS files from its settings: None when neither certificate nor key is
/// set; an error for half a setting.
fn server_files(
    section: &str,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    client_ca: &Option<PathBuf>,
    client_auth: Option<ClientAuth>,
) -> Result<Option<ServerFiles>, TlsError> {
    // "{s}.a needs {s}.b", naming the section both times.
    let needs = |a: &str, b: &str| {
        Err(TlsError::Setting(format!(
            "{section}.{a} needs {section}.{b}"
        )))
    };
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) if client_ca.is_some() => return needs("tls_client_ca", "tls_cert"),
        (None, None) if client_auth.is_some() => return needs("tls_client_auth", "tls_cert"),
        (None, None) => return Ok(None),
        (Some(_), None) => return needs("tls_cert", "tls_key"),
        (None, Some(_)) => return needs("tls_key", "tls_cert"),
    };
    if client_ca.is_none() && client_auth.is_some() {
        return needs("tls_client_auth", "tls_client_ca");
    }
    Ok(Some(ServerFiles {
        cert,
        key,
        client_ca: client_ca.clone(),
        client_auth: client_auth.unwrap_or(ClientAuth::Required),
    }))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    /// PEM certificate chain: set (with `tls_key`), the API speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the API's certificate.
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle for client certificates on the API (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// `required` (default with `tls_client_ca`) or `optional`.
    pub tls_client_auth: Option<ClientAuth>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_auth: None,
        }
    }
}

impl HttpConfig {
    /// The API's TLS files; None: plain HTTP.
    pub fn tls(&self) -> Result<Option<ServerFiles>, TlsError> {
        server_files(
            "http",
            &self.tls_cert,
            &self.tls_key,
            &self.tls_client_ca,
            self.tls_client_auth,
        )
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// host:port of the upstream ISO 8583 host.
    pub addr: String,
    /// An answer later than this is too late: the request is reversed upstream.
    pub timeout_ms: u64,
    /// `stand_in` (decide with the stand-in issuer for cards posguard holds, 91 for the
    /// rest) or `decline` (91).
    pub on_unavailable: String,
    /// Card number prefixes routed upstream; empty routes every card.
    pub bins: Vec<String>,
    /// Field spec and framing the upstream speaks.
    pub spec: String,
    pub framing: String,
    /// Keystore id of the zone PIN key (usage `zone_pin`) shared with the upstream: a
    /// terminal's PIN block is translated to it (ISO format 0). Without one, requests
    /// with a PIN are not forwarded (a DUKPT PIN block means nothing upstream).
    pub zpk: Option<String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            addr: String::new(),
            timeout_ms: 5_000,
            on_unavailable: "stand_in".into(),
            bins: Vec::new(),
            spec: "posguard-ascii".into(),
            framing: "binary2".into(),
            zpk: None,
        }
    }
}

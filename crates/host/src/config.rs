//! posguard's settings. The binary fills them from a TOML file, environment variables
//! and flags, in that order of precedence (flags win).

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
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
        }
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

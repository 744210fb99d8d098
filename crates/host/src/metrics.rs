//! Counters for Prometheus. Label sets are bounded: response codes come from a fixed
//! table and reasons for dropped connections from a fixed enum.

use crate::security::events::{EVENT_KINDS, EventKind};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Latency buckets in microseconds (upper bounds), for request-to-answer time.
const LATENCY_BUCKETS_US: [u64; 12] = [
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    u64::MAX,
];

/// Why the link closed a connection or dropped a frame without answering.
#[derive(Clone, Copy, Debug)]
pub enum Dropped {
    FrameTooLarge,
    FrameMalformed,
    Undecodable,
    IdleTimeout,
    FrameTimeout,
    TooManyConnections,
    NotARequest,
    /// The TLS handshake failed (no or an untrusted client certificate, not TLS, ...).
    TlsHandshake,
    /// The TLS handshake did not finish within the link's handshake timeout.
    TlsHandshakeTimeout,
}

const DROPPED: [(Dropped, &str); 9] = [
    (Dropped::FrameTooLarge, "frame_too_large"),
    (Dropped::FrameMalformed, "frame_malformed"),
    (Dropped::Undecodable, "undecodable"),
    (Dropped::IdleTimeout, "idle_timeout"),
    (Dropped::FrameTimeout, "frame_timeout"),
    (Dropped::TooManyConnections, "too_many_connections"),
    (Dropped::NotARequest, "not_a_request"),
    (Dropped::TlsHandshake, "tls_handshake"),
    (Dropped::TlsHandshakeTimeout, "tls_handshake_timeout"),
];

/// How a terminal connection arrived, for `posguard_link_connections_by_transport_total`.
#[derive(Clone, Copy, Debug)]
pub enum TransportKind {
    Plain,
    Tls,
    /// TLS with a verified client certificate.
    MutualTls,
}

const TRANSPORTS: [(TransportKind, &str); 3] = [
    (TransportKind::Plain, "plain"),
    (TransportKind::Tls, "tls"),
    (TransportKind::MutualTls, "mtls"),
];

/// Response codes posguard can answer, one counter each (field 39's two characters
/// are the label; the set is model::ResponseCode's table).
const CODE_SLOTS: usize = 100;

pub struct Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub frames_in: AtomicU64,
    pub commits: AtomicU64,
    pub committed_writes: AtomicU64,
    pub commit_micros_total: AtomicU64,
    dropped: [AtomicU64; DROPPED.len()],
    transports: [AtomicU64; TRANSPORTS.len()],
    responses: [AtomicU64; CODE_SLOTS],
    latency: [AtomicU64; 12],
    latency_micros_total: AtomicU64,
    security_events: [AtomicU64; EVENT_KINDS.len()],
    risk_decisions: [AtomicU64; RISK_ACTIONS.len()],
    risk_alerts: AtomicU64,
    risk_failures: AtomicU64,
}

/// Risk control's decisions, one counter each.
pub const RISK_ACTIONS: [&str; 3] = ["approve", "review", "decline"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            frames_in: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            committed_writes: AtomicU64::new(0),
            commit_micros_total: AtomicU64::new(0),
            dropped: std::array::from_fn(|_| AtomicU64::new(0)),
            transports: std::array::from_fn(|_| AtomicU64::new(0)),
            responses: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_micros_total: AtomicU64::new(0),
            security_events: std::array::from_fn(|_| AtomicU64::new(0)),
            risk_decisions: std::array::from_fn(|_| AtomicU64::new(0)),
            risk_alerts: AtomicU64::new(0),
            risk_failures: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn security_event(&self, kind: EventKind) {
        self.security_events[kind.index()].fetch_add(1, Relaxed);
    }

    /// Counts one risk decision by its action (one of [`RISK_ACTIONS`]), whether it
    /// raised an alert, and whether risk control itself failed on it.
    pub fn risk_decided(&self, action: &str, alerted: bool, failed: bool) {
        if let Some(i) = RISK_ACTIONS.iter().position(|a| *a == action) {
            self.risk_decisions[i].fetch_add(1, Relaxed);
        }
        self.risk_alerts.fetch_add(u64::from(alerted), Relaxed);
        self.risk_failures.fetch_add(u64::from(failed), Relaxed);
    }

    pub fn dropped(&self, why: Dropped) {
        self.dropped[why as usize].fetch_add(1, Relaxed);
    }

    /// Counts a terminal connection by how it arrived (after its TLS handshake, if any).
    pub fn connected(&self, kind: TransportKind) {
        self.transports[kind as usize].fetch_add(1, Relaxed);
    }

    /// Counts an answer by its field 39 (numeric codes only; others are not ours).
    pub fn answered(&self, code: &str, micros: u64) {
        if let Ok(slot) = code.parse::<usize>()
            && slot < CODE_SLOTS
        {
            self.responses[slot].fetch_add(1, Relaxed);
        }
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(11);
        self.latency[bucket].fetch_add(1, Relaxed);
        self.latency_micros_total.fetch_add(micros, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "posguard_connections_open",
            "Terminal link connections open.",
            "gauge",
            self.connections_open.load(Relaxed),
        );
        gauge(
            &mut out,
            "posguard_connections_total",
            "Terminal link connections accepted.",
            "counter",
            self.connections_total.load(Relaxed),
        );
        gauge(
            &mut out,
            "posguard_frames_total",
            "Frames received on the terminal link.",
            "counter",
            self.frames_in.load(Relaxed),
        );
        gauge(
            &mut out,
            "posguard_commits_total",
            "Durable group commits.",
            "counter",
            self.commits.load(Relaxed),
        );
        gauge(
            &mut out,
            "posguard_committed_writes_total",
            "Writes made durable.",
            "counter",
            self.committed_writes.load(Relaxed),
        );
        gauge(
            &mut out,
            "posguard_commit_seconds_total",
            "Time spent in durable commits (us precision).",
            "counter",
            self.commit_micros_total.load(Relaxed) / 1_000_000,
        );
        let _ = writeln!(
            out,
            "# HELP posguard_link_dropped_total Frames or connections dropped without an answer.\n# TYPE posguard_link_dropped_total counter"
        );
        for (why, label) in DROPPED {
            let _ = writeln!(
                out,
                "posguard_link_dropped_total{{reason=\"{label}\"}} {}",
                self.dropped[why as usize].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP posguard_security_events_total Security events on the terminal link.\n# TYPE posguard_security_events_total counter"
        );
        for kind in EVENT_KINDS {
            let _ = writeln!(
                out,
                "posguard_security_events_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                self.security_events[kind.index()].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP posguard_risk_decisions_total Risk decisions by action.\n# TYPE posguard_risk_decisions_total counter"
        );
        for (i, action) in RISK_ACTIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "posguard_risk_decisions_total{{action=\"{action}\"}} {}",
                self.risk_decisions[i].load(Relaxed)
            );
        }
        gauge(
            &mut out,
            "posguard_risk_alerts_total",
            "Alerts raised by risk control.",
            "counter",
            self.risk_alerts.load(Relaxed),
        );
        gauge(
            &mut out,
            "posguard_risk_failures_total",
            "Transactions on which risk control itself failed (the fail mode decided).",
            "counter",
            self.risk_failures.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP posguard_link_connections_by_transport_total Terminal connections by transport (after the TLS handshake).\n# TYPE posguard_link_connections_by_transport_total counter"
        );
        for (kind, label) in TRANSPORTS {
            let _ = writeln!(
                out,
                "posguard_link_connections_by_transport_total{{transport=\"{label}\"}} {}",
                self.transports[kind as usize].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP posguard_responses_total Answers by ISO response code.\n# TYPE posguard_responses_total counter"
        );
        for (slot, count) in self.responses.iter().enumerate() {
            let count = count.load(Relaxed);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "posguard_responses_total{{code=\"{slot:02}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP posguard_answer_latency_seconds Request to answer time.\n# TYPE posguard_answer_latency_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += self.latency[i].load(Relaxed);
            let le = if *bound == u64::MAX {
                "+Inf".to_string()
            } else {
                format!("{}", *bound as f64 / 1e6)
            };
            let _ = writeln!(
                out,
                "posguard_answer_latency_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "posguard_answer_latency_seconds_sum {}",
            self.latency_micros_total.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "posguard_answer_latency_seconds_count {cumulative}");
        out
    }
}

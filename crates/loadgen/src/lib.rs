//! Simulated POS terminals over real TCP, for throughput and latency measurements
//! and for crash tests.
//!
//! Each connection is one terminal with its own STAN counter. It sends one request at
//! a time (purchases, refunds and reversals of its own recent approvals, repeats of
//! recent requests, and bad frames, in the configured mix), either as fast as answers
//! come (open throttle) or at a fixed overall rate. When the connection drops or an
//! answer is late it reconnects and sends the same request again as a repeat, so a run
//! across a host crash checks exactly-once processing. Every approval received can be
//! written to an ack log, one line per transaction key, as soon as it arrives.
//!
//! Runs are replayable: every choice comes from the seed (field 7 comes from the
//! clock, so keys differ between runs).
//!
//! With [`DukptConfig`] each connection is its own DUKPT terminal (the `terminal`
//! crate): every request carries the next KSN of its device and a MAC, a share of
//! purchases carry a PIN block, and every answer's MAC is verified; a missing or wrong
//! one is a violation. A retransmission or repeat reuses its request's KSN and PIN block.
//!
//! With [`UnionPayConfig`] each connection is a UnionPay (银联) terminal (the
//! `terminal` crate's): it signs on first (PIK and MAK under its TMK, check values
//! verified), then MACs every request under its MAK (PINs under its PIK on a share of
//! purchases) and verifies every answer's MAC; an answer 77 makes it sign on again.
//!
//! **Architecture Invariant:** the load generator knows the link protocol only; it
//! never reads the host's store, so what it checks is what a terminal can see.

mod acklog;
mod config;
mod conn;
pub mod fixtures;
mod histogram;
mod link;
mod message;
mod mix;
mod report;
mod rng;
mod unionpay;

pub use acklog::{AckLine, AckLog, AckLogError};
pub use config::{BATCH_MAX, ConfigError, DukptConfig, LoadgenConfig, STAN_MAX, UnionPayConfig};
pub use histogram::Histogram;
pub use mix::{Kind, Mix, MixError};
pub use report::{Latency, Report, Stats};

use conn::{Shared, Terminal};
use std::sync::Arc;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadgenError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    AckLog(#[from] AckLogError),
    #[error("encode a request: {0}")]
    Encode(#[from] iso8583::EncodeError),
    #[error("DUKPT terminal: {0}")]
    Dukpt(#[from] terminal::TerminalError),
    #[error("a simulated terminal stopped unexpectedly: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs the load: one task per connection until `cfg.duration` has passed, then
/// waits for requests still in flight (or being retransmitted) and reports.
pub async fn run(cfg: LoadgenConfig) -> Result<Report, LoadgenError> {
    cfg.check()?;
    let ack_log = cfg.ack_log.as_deref().map(AckLog::create).transpose()?;
    let start = Instant::now();
    let deadline = start + cfg.duration;
    // Requests in flight at the deadline still get one request timeout to finish.
    let retry_end = deadline + cfg.request_timeout;
    let (seed, connections) = (cfg.seed, cfg.connections);
    let shared = Arc::new(Shared {
        cfg,
        ack_log,
        deadline,
        retry_end,
    });
    let terminals = (0..connections)
        .map(|i| Terminal::new(i, shared.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let tasks: Vec<_> = terminals
        .into_iter()
        .map(|t| tokio::spawn(t.run()))
        .collect();
    let mut stats = Stats::default();
    let mut latency = Histogram::default();
    for task in tasks {
        let (s, h) = task.await??;
        stats.merge(&s);
        latency.merge(&h);
    }
    Ok(Report::new(
        seed,
        connections,
        stats,
        &latency,
        start.elapsed(),
    ))
}

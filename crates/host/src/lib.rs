//! posguard's edges: the terminal link, the commit pipeline that makes every decision
//! durable before it is answered, and the HTTP API.
//!
//! Architecture Invariant: every answer that reports a decision leaves the host only
//! after the store has committed that decision (see `pipeline`).
//! Architecture Invariant: a clear PAN exists only inside `iso_map::card` and the API's
//! card handlers, long enough to be tokenized; it is never stored, logged or echoed.

pub mod api_error;
pub mod client;
pub mod config;
pub mod demo;
pub mod hooks;
pub mod http;
pub mod iso_map;
pub mod keyring;
pub mod keys;
pub mod link;
pub mod metrics;
pub mod pipeline;
pub mod risk;
pub mod security;
pub mod server;
pub mod tls;
pub mod unionpay;
pub mod upstream;
pub mod vault;
pub mod webhooks;

pub use config::{Clock, Config};
pub use server::{App, Running, StartError, start};

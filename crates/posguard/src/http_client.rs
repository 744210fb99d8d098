//! A minimal HTTP/1.1 client for the CLI's calls to posguard's own API (plain HTTP on
//! the operator's network; one request per connection).

use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Largest API answer the CLI reads.
const RESPONSE_SIZE_MAX_BYTES: u64 = 64 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Api {
    host_port: String,
    token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> anyhow::Result<Api> {
        let Some(rest) = base.strip_prefix("http://") else {
            bail!("--api must start with http:// (got {base:?})");
        };
        Ok(Api {
            host_port: rest.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// Sends a request and returns the status and the JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut stream = TcpStream::connect(&self.host_port)
            .with_context(|| format!("connect to {}", self.host_port))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        let body_text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host_port,
            self.token,
            body_text.len()
        );
        if let Some(key) = idempotency_key {
            req.push_str(&format!("Idempotency-Key: {key}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body_text);
        stream
            .write_all(req.as_bytes())
            .context("send the request")?;
        let mut raw = Vec::new();
        stream
            .take(RESPONSE_SIZE_MAX_BYTES)
            .read_to_end(&mut raw)
            .context("read the answer")?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("malformed HTTP answer")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("malformed HTTP status line")?;
        let json = if body.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(body)
                .with_context(|| format!("answer is not JSON (status {status})"))?
        };
        Ok((status, json))
    }
}

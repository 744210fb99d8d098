//! What the binary's end-to-end tests share: starting `posguard serve` as a child
//! process on free ports with a test master key, and reading numbers from reports.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_posguard");

/// The master key of these runs (a production start needs one; tests pass it the way an
/// operator may, through the environment).
pub const TEST_KEK: &str = "6A0D9F3C2B1E4D5A69788796A5B4C3D2E1F00F1E2D3C4B5A6978877665544332";

/// How long a start may take before the test fails.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process that is killed (SIGKILL) when dropped, so a failing test leaves
/// no server behind.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A fresh directory under the system's temp dir, unique to this process and moment.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("posguard-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `cmd` (a `posguard serve` command line without its output settings) with the
/// test KEK, stderr into `log`, and waits until it serves; returns it and the admin
/// token when this start created one.
pub fn start_serving(mut cmd: Command, log: &Path) -> (Proc, Option<String>) {
    let log_file = std::fs::File::create(log).unwrap();
    cmd.stdout(Stdio::piped())
        .stderr(log_file)
        .env("RUST_LOG", "warn")
        .env("POSGUARD_KEK", TEST_KEK);
    let mut child = cmd.spawn().expect("start posguard serve");
    let stdout = child.stdout.take().unwrap();
    let child = Proc(child);
    let (tx, rx) = mpsc::channel();
    // Reads stdout to the end, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    let mut token = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("posguard serve did not start; see {}", log.display()));
        if let Some(t) = line.trim().strip_prefix("pgt_") {
            token = Some(format!("pgt_{t}"));
        }
        if line.starts_with("posguard serving:") {
            return (child, token);
        }
    }
}

/// A first start of `posguard serve` in `dir` with `extra` arguments, on free ports:
/// the server, its link and API addresses, and the admin token it printed.
pub fn serve_fresh(dir: &Path, extra: &[&str]) -> (Proc, String, String, String) {
    let link = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .args(extra)
        .args(["--link-listen", &link, "--http-listen", &http])
        .arg("--data-dir")
        .arg(dir);
    let (child, token) = start_serving(cmd, &dir.join("serve.err"));
    (
        child,
        link,
        http,
        token.expect("a first start prints a token"),
    )
}

/// A number from the report text `label N`.
pub fn counter(report: &str, label: &str) -> u64 {
    let at = report
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in\n{report}"));
    report[at + label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in\n{report}"))
}

//! `posguard loadgen --unionpay` against `posguard serve --link-profile unionpay`:
//! terminals sign on (working keys under the TMKs `--setup` imported), purchase, refund,
//! reverse and repeat with the MAC on every request, and check every answer's MAC. A
//! run whose terminals MAC otherwise than the host (x9.19 against ecb) is answered A0
//! and fails with a non-zero exit.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_posguard");
const TEST_KEK: &str = "6A0D9F3C2B1E4D5A69788796A5B4C3D2E1F00F1E2D3C4B5A6978877665544332";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process killed when dropped, so a failing test leaves no server behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts the server; returns it, its link and API addresses and the admin token.
fn serve(dir: &std::path::Path) -> (Proc, String, String, String) {
    let link = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.join("serve.err")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--link-profile", "unionpay"])
        .args(["--link-listen", &link, "--http-listen", &http])
        .arg("--data-dir")
        .arg(dir)
        .env("POSGUARD_KEK", TEST_KEK)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Proc(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    let mut token = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("posguard serve starts");
        if let Some(t) = line.trim().strip_prefix("pgt_") {
            token = Some(format!("pgt_{t}"));
        }
        if line.starts_with("posguard serving:") {
            return (
                child,
                link,
                http,
                token.expect("a first start prints a token"),
            );
        }
    }
}

/// Runs loadgen; returns whether it succeeded and its standard output and error.
fn loadgen(link: &str, http: &str, token: &str, extra: &[&str]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["loadgen", "--unionpay", "--setup", "--link", link])
        .args(["--api", &format!("http://{http}"), "--token", token])
        .args(["--connections", "4", "--cards", "8", "--duration-secs", "2"])
        .args([
            "--timeout-ms",
            "3000",
            "--retry-window-secs",
            "5",
            "--seed",
            "11",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "loadgen finishes");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    (status.success(), text)
}

/// A number from the report text `label N`.
fn counter(report: &str, label: &str) -> u64 {
    let at = report
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in\n{report}"));
    report[at + label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in\n{report}"))
}

#[test]
fn unionpay_terminals_sign_on_and_mac_under_load() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("posguard-up-loadgen-{nanos}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (_server, link, http, token) = serve(&dir);

    let mix = ["--mix", "purchase=80,refund=8,reversal=6,repeat=5,bad=1"];
    let (ok, report) = loadgen(&link, &http, &token, &mix);
    eprintln!("{report}");
    assert!(ok, "{report}");
    assert_eq!(counter(&report, "sign-ons "), 4, "{report}");
    assert!(counter(&report, "response MACs verified ") > 0, "{report}");
    assert_eq!(counter(&report, "MAC failures "), 0, "{report}");
    assert!(counter(&report, "PIN purchases ") > 0, "{report}");
    assert!(counter(&report, "approved: purchases ") > 0, "{report}");
    assert!(counter(&report, "repeats checked ") > 0, "{report}");
    assert!(!report.contains("VIOLATION"), "{report}");

    // Terminals that MAC with X9.19 on an ECB listener: every request answered A0,
    // the run fails.
    let (ok, report) = loadgen(&link, &http, &token, &["--unionpay-mac", "x9.19"]);
    assert!(!ok, "{report}");
    assert!(report.contains("refused A0"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

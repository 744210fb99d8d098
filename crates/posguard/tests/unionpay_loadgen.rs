//! `posguard loadgen --unionpay` against `posguard serve --link-profile unionpay`:
//! terminals sign on (working keys under the TMKs `--setup` imported), purchase, refund,
//! reverse and repeat with the MAC on every request, and check every answer's MAC. A
//! run whose terminals MAC otherwise than the host (x9.19 against ecb) is answered A0
//! and fails with a non-zero exit.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, counter};

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

#[test]
fn unionpay_terminals_sign_on_and_mac_under_load() {
    let dir = common::temp_dir("up-loadgen");
    let (_server, link, http, token) = common::serve_fresh(&dir, &["--link-profile", "unionpay"]);

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

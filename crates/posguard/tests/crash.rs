//! Crash test: `posguard loadgen` drives simulated terminals against `posguard serve`,
//! which is killed with SIGKILL mid-run and restarted on the same data. Afterwards every
//! approval a terminal received (the ack log) must be an approved transaction in the
//! store, no transaction key may have two effects, and `posguard ledger verify` passes.
//!
//! The load's seed is printed; `POSGUARD_CRASH_SEED=N` replays a run's choices.
//! PostgreSQL runs too when `POSGUARD_TEST_PG_URL` is set (a URL the store accepts; a
//! fresh `schema=` is added per run).

use loadgen::AckLine;
use model::{TxnKind, TxnRecord, TxnStatus};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;
use common::{BIN, Proc, counter, free_port};
const CONNECTIONS: &str = "16";
const LOAD_SECS: &str = "8";
/// Every kind of request, with enough refunds, reversals and repeats to hit the crash.
const MIX: &str = "purchase=80,refund=7,reversal=6,repeat=5,bad=2";
/// How long the load runs before the host is killed.
const KILL_AFTER: Duration = Duration::from_millis(2_500);
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole load run, setup and the outage included, must end within this.
const LOADGEN_TIMEOUT: Duration = Duration::from_secs(60);

struct Setup {
    dir: PathBuf,
    store_url: Option<String>,
    link: String,
    http: String,
}

impl Setup {
    fn new(name: &str, store_url: Option<String>) -> Setup {
        Setup {
            dir: common::temp_dir(name),
            store_url,
            link: format!("127.0.0.1:{}", free_port()),
            http: format!("127.0.0.1:{}", free_port()),
        }
    }

    fn store_args(&self, cmd: &mut Command) {
        cmd.arg("--data-dir").arg(&self.dir);
        if let Some(url) = &self.store_url {
            cmd.arg("--store-url").arg(url);
        }
    }

    /// Starts `posguard serve` and waits until it serves; returns it and the admin
    /// token when this start created one.
    fn serve(&self, start: u32) -> (Proc, Option<String>) {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(["--link-listen", &self.link, "--http-listen", &self.http]);
        self.store_args(&mut cmd);
        common::start_serving(cmd, &self.dir.join(format!("serve-{start}.err")))
    }
}

fn wait_with_timeout(mut child: Proc, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "loadgen did not finish within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let Proc(inner) = &mut child;
    let mut out = Output {
        status: inner.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    inner
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    inner
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    out
}

fn seed() -> u64 {
    match std::env::var("POSGUARD_CRASH_SEED") {
        Ok(s) => s.parse().expect("POSGUARD_CRASH_SEED is a number"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

fn crash_and_check(name: &str, store_url: Option<String>) {
    let setup = Setup::new(name, store_url);
    let seed = seed();
    println!(
        "crash test {name}: loadgen seed {seed} (replay: POSGUARD_CRASH_SEED={seed}), data {}",
        setup.dir.display()
    );
    let (server, token) = setup.serve(1);
    let token = token.expect("a new store prints its admin token");
    let ack_log = setup.dir.join("ack.log");
    let loadgen = Command::new(BIN)
        .args([
            "loadgen",
            "--setup",
            "--link",
            &setup.link,
            "--api",
            &format!("http://{}", setup.http),
        ])
        .args([
            "--token",
            &token,
            "--connections",
            CONNECTIONS,
            "--duration-secs",
            LOAD_SECS,
        ])
        .args([
            "--mix",
            MIX,
            "--seed",
            &seed.to_string(),
            "--timeout-ms",
            "3000",
        ])
        .arg("--ack-log")
        .arg(&ack_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start posguard loadgen");
    let loadgen = Proc(loadgen);
    // Kill once the load is under way: the first approval is in the ack log.
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    while std::fs::metadata(&ack_log).map_or(0, |m| m.len()) == 0 {
        assert!(
            Instant::now() < deadline,
            "loadgen sent nothing; see {}",
            setup.dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(KILL_AFTER);
    drop(server); // SIGKILL
    let (server, _) = setup.serve(2);
    let out = wait_with_timeout(loadgen, LOADGEN_TIMEOUT);
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        counter(&report, "connection errors ") > 0,
        "the crash happened outside the load"
    );
    drop(server);
    check_store(&setup, &ack_log);
    let mut verify = Command::new(BIN);
    verify.args(["ledger", "verify"]);
    setup.store_args(&mut verify);
    let verified = verify.output().unwrap();
    assert!(
        verified.status.success(),
        "ledger verify failed:\n{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert_no_clear_pan(&setup.dir);
    std::fs::remove_dir_all(&setup.dir).unwrap();
}

/// Cards the loadgen used (its default of 64 provisioned cards).
const LOADGEN_CARDS: usize = 64;

/// No clear card number in any file of the data directory: database, WAL, journal
/// segments, keys and the server's own logs.
fn assert_no_clear_pan(dir: &Path) {
    let pans: Vec<String> = (0..LOADGEN_CARDS)
        .map(loadgen::fixtures::card_pan)
        .collect();
    let mut files = vec![dir.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for (at, _) in bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == pans[0].as_bytes()[0])
        {
            for pan in &pans {
                assert!(
                    !bytes[at..].starts_with(pan.as_bytes()),
                    "clear PAN in {}",
                    path.display()
                );
            }
        }
    }
}

fn store_url(setup: &Setup) -> String {
    match &setup.store_url {
        Some(url) => url.clone(),
        None => format!("sqlite:{}", setup.dir.join("posguard.db").display()),
    }
}

/// (terminal, STAN, field 7, is a reversal): the key a terminal's request is known by.
type Key = (String, String, String, bool);

fn check_store(setup: &Setup, ack_log: &Path) {
    let store = store::open(&store_url(setup)).expect("open the store");
    let mut txns: HashMap<Key, TxnRecord> = HashMap::new();
    let mut idem_keys = HashSet::new();
    store
        .for_each_txn(&mut |t| {
            assert!(
                idem_keys.insert(t.idem_key.clone()),
                "key {} stored twice",
                t.idem_key
            );
            let key = (
                t.terminal_id.0.clone(),
                t.stan.clone(),
                t.transmitted.clone(),
                t.kind == TxnKind::Reversal,
            );
            assert!(
                txns.insert(key, t).is_none(),
                "one request, two transactions"
            );
            Ok(())
        })
        .expect("read transactions");
    let text = std::fs::read_to_string(ack_log).unwrap();
    let mut lines = HashSet::new();
    let mut purchases = 0;
    for line in text.lines() {
        let ack = AckLine::parse(line).unwrap_or_else(|| panic!("malformed ack line {line:?}"));
        let reversal = ack.kind == "reversal";
        let key = (
            ack.terminal.clone(),
            ack.stan.clone(),
            ack.f7.clone(),
            reversal,
        );
        assert!(lines.insert(key.clone()), "acknowledged twice: {line}");
        let txn = txns
            .get(&key)
            .unwrap_or_else(|| panic!("acknowledged, not stored: {line}"));
        assert_eq!(txn.response_code.iso(), "00", "{line}: {txn:?}");
        assert_eq!(txn.id.rrn(), ack.rrn, "{line}");
        assert_eq!(txn.amount_minor as u64, ack.amount_minor, "{line}");
        let (kind, statuses): (TxnKind, &[TxnStatus]) = match ack.kind.as_str() {
            "purchase" => (
                TxnKind::Purchase,
                &[TxnStatus::Approved, TxnStatus::Reversed, TxnStatus::Voided],
            ),
            "refund" => (TxnKind::Refund, &[TxnStatus::Approved]),
            "reversal" => (
                TxnKind::Reversal,
                &[TxnStatus::Approved, TxnStatus::Acknowledged],
            ),
            other => panic!("unknown kind {other} in {line}"),
        };
        assert_eq!(txn.kind, kind, "{line}");
        assert!(
            statuses.contains(&txn.status),
            "{line}: status {:?}",
            txn.status
        );
        purchases += u64::from(kind == TxnKind::Purchase);
    }
    let approved_purchases = txns
        .values()
        .filter(|t| t.kind == TxnKind::Purchase && t.response_code.iso() == "00")
        .count() as u64;
    assert!(purchases > 0, "no purchase was acknowledged");
    assert!(
        approved_purchases >= purchases,
        "{approved_purchases} approved purchases stored, {purchases} acknowledged"
    );
    println!(
        "{} acknowledged lines checked against {} stored transactions",
        lines.len(),
        txns.len()
    );
}

#[test]
fn acknowledged_approvals_survive_sigkill_sqlite() {
    crash_and_check("crash-sqlite", None);
}

#[test]
fn acknowledged_approvals_survive_sigkill_postgres() {
    let Ok(base) = std::env::var("POSGUARD_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the PostgreSQL crash test: set POSGUARD_TEST_PG_URL"
        );
        println!("skipped: POSGUARD_TEST_PG_URL is not set");
        return;
    };
    if let Err(e) = store::sweep_test_schemas(&base) {
        eprintln!("sweep old test schemas: {e}");
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    let schema = format!("crash_{}_{nanos}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    crash_and_check(
        "crash-postgres",
        Some(format!("{base}{sep}schema={schema}")),
    );
}

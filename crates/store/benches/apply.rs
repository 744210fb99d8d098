//! The journal applier's CPU cost per purchase, on a warmed database.
//!
//! Batches shaped like the host's (per purchase: a `Txn` whose card token is one of
//! 100k random 64-hex tokens, terminal one of 200, merchant one of 20, idem_key
//! `txn:terminal:stan:transmitted`; `Entries` of 2; a `Decision` with small JSON lists)
//! are merged as `run_applier` merges them (1000 purchases, ~3000 writes and the
//! applied-sequence meta row per SQLite transaction) and committed into a database that
//! already holds `POSGUARD_APPLY_PREFILL` purchases (default 1.5 million): random inserts
//! into a big index miss the cache, which a small database hides.
//!
//! Prints the applying thread's CPU time (getrusage user + sys) per purchase, and wall.
//! The prefilled database is built once per schema and kept as a template in
//! `POSGUARD_APPLY_DIR` (default: the temp dir); each run applies to a copy of it.
//!
//! cargo bench -p store --bench apply
//! POSGUARD_APPLY_KEY_RUN sets the store's search-key run (transactions; default 100k).
//! POSGUARD_APPLY_WARMUP and POSGUARD_APPLY_PURCHASES shorten a run (e.g. under callgrind:
//! `--toggle-collect='*run_applier*'` counts the applier's instructions).
//! (To profile only the measured part: POSGUARD_APPLY_PAUSE_MS=2000, then
//! `perf record -g -p <pid>` once it prints "measuring".)

use model::{
    Account, CardToken, Currency, Entry, MaskedPan, MerchantId, PostingKind, ResponseCode,
    RiskDecision, RuleHit, TerminalId, TxnId, TxnKind, TxnRecord, TxnStatus, Write,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

const CARDS: usize = 100_000;
const TERMINALS: u64 = 200;
const MERCHANTS: u64 = 20;
/// Purchases per merged apply transaction (3 writes each): "a few thousand writes".
const PURCHASES_PER_APPLY: usize = 1_000;
/// Purchases per transaction while building the template (speed, not realism).
const PREFILL_PURCHASES_PER_COMMIT: usize = 20_000;
/// Applied before measuring, so the page cache holds what a running host's would.
const WARMUP_PURCHASES: usize = 60_000;
const PREFILL_DEFAULT: usize = 1_500_000;
const MEASURED_DEFAULT: usize = 150_000;
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// Milliseconds between purchases at ~50k purchases/s is 1/50: one tick per 50.
const PURCHASES_PER_MS: u64 = 50;
/// The meta key run_applier writes with each merged transaction.
const APPLIED_KEY: &str = "journal_applied_seq";

fn main() {
    let prefill = env_count("POSGUARD_APPLY_PREFILL", PREFILL_DEFAULT);
    let measured = env_count("POSGUARD_APPLY_PURCHASES", MEASURED_DEFAULT);
    let dir = std::env::var_os("POSGUARD_APPLY_DIR").map_or_else(
        || std::env::temp_dir().join("posguard-apply-bench"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the bench directory");
    println!("seed {SEED:#x}, prefill {prefill} purchases, measured {measured}");

    let mut purchases = Purchases::new(SEED);
    let template = template(&dir, prefill, &mut purchases);
    let db = dir.join(format!("run-{}.db", std::process::id()));
    remove_db(&db);
    std::fs::copy(&template, &db).expect("copy the template");
    drop_indexes(&db);
    let options = store::OpenOptions {
        journal: true,
        journal_segment_bytes: 0,
        key_run_txns: env_count("POSGUARD_APPLY_KEY_RUN", 0),
    };
    let store = store::open_with(&sqlite_url(&db), options).expect("open the copy");
    let warmup = env_count("POSGUARD_APPLY_WARMUP", WARMUP_PURCHASES);
    for chunk in applies(&mut purchases, warmup) {
        apply(&*store, chunk);
    }
    let chunks = applies(&mut purchases, measured);
    let transactions = chunks.len();
    // Time for a profiler to attach to the measured part only (perf record -p).
    let pause_ms = env_count("POSGUARD_APPLY_PAUSE_MS", 0);
    println!(
        "measuring (pid {}, after {pause_ms} ms)",
        std::process::id()
    );
    std::thread::sleep(std::time::Duration::from_millis(pause_ms as u64));
    let applier = applier_tid();
    let (applier0, own0, wall0) = (task_cpu_us(&applier), thread_cpu_us(), Instant::now());
    let mut slowest = std::time::Duration::ZERO;
    for chunk in chunks {
        let started = Instant::now();
        apply(&*store, chunk);
        slowest = slowest.max(started.elapsed());
    }
    // Deferred WAL writes not yet on disk are flushed here, on this thread's account,
    // so that a commit mode that leaves them to the kernel's flusher is not flattered.
    sync_file(&PathBuf::from(format!("{}-wal", db.display())));
    let (applier1, own1, wall) = (task_cpu_us(&applier), thread_cpu_us(), wall0.elapsed());
    let per = |us: f64| us / measured as f64;
    let apply_us = applier1 - applier0;
    let own = (own1.0 - own0.0, own1.1 - own0.1);
    println!(
        "apply: {measured} purchases in {transactions} transactions: applier cpu {:.2} \
         us/purchase; committer (journal append, final WAL sync) cpu {:.2} (user {:.2}, \
         sys {:.2}); total {:.2}; wall {:.2} us/purchase",
        per(apply_us),
        per(own.0 + own.1),
        per(own.0),
        per(own.1),
        per(apply_us + own.0 + own.1),
        per(wall.as_secs_f64() * 1e6),
    );
    // A search-key run is written inside one apply transaction: this is its price.
    println!(
        "slowest apply transaction: {:.1} ms",
        slowest.as_secs_f64() * 1e3
    );
    drop(store);
    remove_db(&db);
    let _ = std::fs::remove_dir_all(db.with_extension("journal"));
}

/// Commits one host-shaped batch through the journal and waits until the applier has
/// applied it (a read waits for that), so each batch is one apply transaction.
fn apply(store: &dyn store::Store, chunk: Vec<Write>) {
    store.commit_owned(chunk).expect("commit");
    store.meta_get(APPLIED_KEY).expect("read after apply");
}

/// Experiments: `POSGUARD_APPLY_DROP_INDEXES=a,b` drops those indexes from the copy,
/// to price each index's upkeep per purchase.
fn drop_indexes(db: &Path) {
    let Ok(names) = std::env::var("POSGUARD_APPLY_DROP_INDEXES") else {
        return;
    };
    let conn = rusqlite::Connection::open(db).expect("open the copy");
    for name in names.split(',').filter(|n| !n.is_empty()) {
        conn.execute_batch(&format!("DROP INDEX {name}"))
            .expect("drop the index");
        println!("dropped index {name}");
    }
}

fn sync_file(path: &Path) {
    if let Ok(f) = std::fs::File::open(path) {
        f.sync_all().expect("sync the WAL");
    }
}

/// The applier thread's id (its name is set by the store).
fn applier_tid() -> String {
    let tasks = std::fs::read_dir("/proc/self/task").expect("list threads");
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "posguard-apply" {
            return task.file_name().to_string_lossy().into_owned();
        }
    }
    panic!("no posguard-apply thread");
}

/// User + system CPU microseconds of thread `tid` of this process (clock-tick resolution).
fn task_cpu_us(tid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("stat");
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .expect("ticks")
    };
    // SAFETY: sysconf reads a configuration value; no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) * 1e6 / hz
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

fn remove_db(db: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
}

/// The prefilled database for the current schema, built if missing. `purchases` moves
/// on past the template's ids either way, so later inserts never collide with it.
fn template(dir: &Path, prefill: usize, purchases: &mut Purchases) -> PathBuf {
    let path = dir.join(format!("template-{prefill}-{:08x}.db", schema_tag(dir)));
    let exists = path.exists();
    if !exists {
        println!("building {} (once per schema)", path.display());
    }
    let building = dir.join(format!("building-{}.db", std::process::id()));
    let store = (!exists).then(|| {
        remove_db(&building);
        store::open(&sqlite_url(&building)).expect("open the template")
    });
    let mut left = prefill;
    while left > 0 {
        let n = left.min(PREFILL_PURCHASES_PER_COMMIT);
        let batch: Vec<Write> = (0..n).flat_map(|_| purchases.next()).collect();
        if let Some(store) = &store {
            store.commit(&batch).expect("prefill");
        }
        left -= n;
    }
    if let Some(store) = store {
        drop(store);
        let conn = rusqlite::Connection::open(&building).expect("reopen the template");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint the template");
        drop(conn);
        std::fs::rename(&building, &path).expect("keep the template");
        remove_db(&building);
    }
    path
}

/// A digest of a new database's schema and page size: a schema change gets a new template.
fn schema_tag(dir: &Path) -> u32 {
    let probe = dir.join(format!("probe-{}.db", std::process::id()));
    remove_db(&probe);
    drop(store::open(&sqlite_url(&probe)).expect("open a probe"));
    let conn = rusqlite::Connection::open(&probe).expect("reopen the probe");
    let schema: String = conn
        .query_row(
            "SELECT group_concat(sql, ';') || (SELECT page_size FROM pragma_page_size) \
             FROM sqlite_master",
            [],
            |r| r.get(0),
        )
        .expect("read the schema");
    drop(conn);
    remove_db(&probe);
    crc32fast::hash(schema.as_bytes())
}

/// The measured writes, cut into batches of `POSGUARD_APPLY_BATCH` purchases (default
/// `PURCHASES_PER_APPLY`).
fn applies(purchases: &mut Purchases, count: usize) -> Vec<Vec<Write>> {
    let per_apply = env_count("POSGUARD_APPLY_BATCH", PURCHASES_PER_APPLY).max(1);
    let mut out = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(per_apply);
        out.push((0..n).flat_map(|_| purchases.next()).collect());
        left -= n;
    }
    out
}

/// (user, sys) CPU microseconds of the calling thread.
fn thread_cpu_us() -> (f64, f64) {
    // SAFETY: getrusage writes one rusage into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid pointer to a live rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// A seeded stream of host-shaped purchases.
struct Purchases {
    rng: u64,
    cards: Vec<CardToken>,
    stans: Vec<u32>,
    next_id: u64,
}

impl Purchases {
    fn new(seed: u64) -> Purchases {
        let mut p = Purchases {
            rng: seed,
            cards: Vec::new(),
            stans: vec![0; TERMINALS as usize],
            next_id: 1,
        };
        p.cards = (0..CARDS)
            .map(|_| {
                CardToken(format!(
                    "{:016x}{:016x}{:016x}{:016x}",
                    p.r(),
                    p.r(),
                    p.r(),
                    p.r()
                ))
            })
            .collect();
        p
    }

    /// splitmix64: fast, seeded, good enough to scatter keys.
    fn r(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next(&mut self) -> [Write; 3] {
        let id = self.next_id;
        self.next_id += 1;
        let terminal = self.r() % TERMINALS;
        let pick = (self.r() % CARDS as u64) as usize;
        let card = self.cards[pick].clone();
        let stan = &mut self.stans[terminal as usize];
        *stan = *stan % 999_999 + 1;
        let (stan, amount) = (format!("{stan:06}"), 100 + (self.r() % 50_000) as i64);
        let created_ms = 1_790_000_000_000 + (id / PURCHASES_PER_MS) as i64;
        let transmitted = format!("{:010}", 1_122_000_000 + id / (PURCHASES_PER_MS * 1000));
        let terminal_id = TerminalId(format!("T{terminal:07}"));
        let merchant_id = MerchantId(format!("M{:03}", terminal % MERCHANTS));
        let txn = TxnRecord {
            id: TxnId(id),
            idem_key: format!("txn:{}:{stan}:{transmitted}", terminal_id.0),
            created_ms,
            mti: "0200".into(),
            kind: TxnKind::Purchase,
            offline: false,
            terminal_id,
            merchant_id: merchant_id.clone(),
            stan,
            transmitted,
            card_token: Some(card.clone()),
            masked_pan: Some(MaskedPan("476173******0010".into())),
            amount_minor: amount,
            currency: Currency::CNY,
            response_code: ResponseCode::Approved,
            auth_code: Some(format!("{:06}", id % 1_000_000)),
            status: TxnStatus::Approved,
            original_id: None,
            original_key: None,
            fee_minor: amount * 60 / 10_000,
            refunded_minor: 0,
            balance_minor: None,
            stand_in: true,
            upstream: false,
            reason: "approved".into(),
        };
        let leg = |n: u64, account, amount_minor| Entry {
            id: id * 2 - 1 + n,
            txn_id: TxnId(id),
            kind: PostingKind::Capture,
            account,
            amount_minor,
            currency: Currency::CNY,
        };
        let entries = vec![
            leg(0, Account::Card(card), -amount),
            leg(1, Account::Merchant(merchant_id), amount),
        ];
        [
            Write::Txn(txn),
            Write::Entries(entries),
            Write::Decision(Box::new(decision(id, created_ms))),
        ]
    }
}

fn decision(id: u64, created_ms: i64) -> RiskDecision {
    let hit = |rule: &str, score| RuleHit {
        rule_id: rule.into(),
        version: 1,
        severity: "low".into(),
        score,
        error: None,
    };
    let reasons = if id.is_multiple_of(10) {
        vec![hit("velocity_card_1h", 120)]
    } else {
        Vec::new()
    };
    RiskDecision {
        txn_id: TxnId(id),
        score: if reasons.is_empty() { 0 } else { 120 },
        action: "approve".into(),
        response_code: None,
        reasons,
        shadow_hits: Vec::new(),
        errors: Vec::new(),
        tags: vec!["card_present".into()],
        rule_set_version: 3,
        engine_failed: false,
        decided_ms: created_ms,
    }
}

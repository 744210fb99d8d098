//! Group commit through a journal: a batch is durable once its record is fsync'd to an
//! append-only file (one sequential write and one flush per batch), and the database
//! is brought up to date by a background applier that merges many batches into one
//! transaction. Acknowledgements wait only for the journal; the database's own commit
//! cost (index maintenance, its WAL) moves off the latency path.
//!
//! Recovery: the database stores how far it has applied the journal
//! (`journal_applied_seq`, written in the same transaction as the batches), and
//! opening the store applies whatever the journal holds beyond that. Reads see the
//! applied state: a read first waits until everything committed before it started has
//! been applied (milliseconds), so a client sees its own acknowledged transactions.

mod log;
mod wire;

use crate::error::{StoreError, StoreErrorKind};
use crate::{AlertQuery, CaseQuery, Store, TxnQuery};
use log::{Log, Record};
use model::*;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The meta key holding the last journal sequence number applied to the database.
pub(crate) const APPLIED_KEY: &str = "journal_applied_seq";
/// Writes handed to the applier and not yet applied; a commit that would go past this
/// waits (backpressure). It is counted in writes, not batches, because a batch holds
/// 1 to thousands of them: about 130,000 purchases (a few hundred MiB), seconds of
/// peak load, so the applier's large transactions do not stall the terminals' commits
/// while it keeps up on average.
const APPLY_BACKLOG_WRITES_MAX: usize = 400_000;
/// Most writes the applier merges into one database transaction (a bound on how long
/// one takes, and on the burst of database writes it makes).
const APPLY_MERGE_WRITES_MAX: usize = 50_000;
/// The applier gathers batches for up to this long, unless it has
/// `APPLY_MERGE_MIN_WRITES` or a read is waiting. Each SQLite commit rewrites the right
/// edge of every table and index it touched, syncs the WAL and walks the page cache:
/// applying each small batch on its own as the host's group commits arrive (hundreds a
/// second) spent a third of the applier's CPU on that (perf under load).
const APPLY_GATHER: Duration = Duration::from_millis(50);
/// Writes that make an apply transaction worth committing without waiting longer.
const APPLY_MERGE_MIN_WRITES: usize = 10_000;
/// How often a gathering applier looks for a waiting read.
const APPLY_READER_POLL: Duration = Duration::from_millis(2);
/// How often a commit waiting for the backlog checks whether the applier stopped.
const BACKLOG_RECHECK: Duration = Duration::from_millis(100);
/// Longest a read waits for the applier to catch up before it is refused.
const READ_CATCH_UP_WAIT_MS: u64 = 10_000;
/// Batches replayed per database transaction at recovery.
const RECOVERY_CHUNK_BATCHES: usize = 256;

/// The directory of the journal that goes with an SQLite database file.
pub(crate) fn dir_for(db: &Path) -> std::path::PathBuf {
    db.with_extension("journal")
}

fn applied_seq(store: &dyn Store) -> Result<u64, StoreError> {
    match store.meta_get(APPLIED_KEY)? {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                "journal_applied_seq is not a number",
            )
        }),
    }
}

/// Applies records to the store in chunks, each with its own high-water mark.
fn apply_records(store: &dyn Store, records: Vec<Record>) -> Result<(), StoreError> {
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let mut merged = Vec::new();
        let mut last = 0;
        for record in records.by_ref().take(RECOVERY_CHUNK_BATCHES) {
            merged.extend(record.writes);
            last = record.seq;
        }
        merged.push(Write::Meta {
            key: APPLIED_KEY.into(),
            value: last.to_string(),
        });
        store.commit(&merged)?;
    }
    Ok(())
}

/// Replays an existing journal into `store` when no other process owns it (used by
/// tools that open a data directory, such as `ledger verify`). Returns whether the
/// journal was free.
pub(crate) fn recover(store: &dyn Store, dir: &Path) -> Result<bool, StoreError> {
    if !dir.exists() {
        return Ok(true);
    }
    let applied = applied_seq(store)?;
    match Log::open(dir, applied, None)? {
        None => Ok(false),
        Some((_log, records)) => {
            apply_records(store, records)?;
            Ok(true)
        }
    }
}

/// A store whose commits go through the journal.
pub(crate) struct Journaled {
    inner: Arc<dyn Store>,
    log: Arc<Mutex<Log>>,
    /// Taken on drop, which ends the applier once it has applied everything.
    to_applier: Option<Sender<(u64, Vec<Write>)>>,
    backlog: Arc<Backlog>,
    applier: Option<std::thread::JoinHandle<()>>,
    /// The applier's failure, reported to the next commit (which then fails too).
    failed: Arc<Mutex<Option<StoreError>>>,
    /// The last sequence number appended, and the last one applied (with its signal).
    committed: std::sync::atomic::AtomicU64,
    applied: Arc<(Mutex<u64>, Condvar)>,
    /// Reads waiting for the applier: it stops gathering for them.
    readers_waiting: Arc<AtomicUsize>,
}

impl Journaled {
    /// Takes over the journal in `dir` (recovering what it holds) and starts the applier.
    pub(crate) fn open(
        inner: Arc<dyn Store>,
        dir: &Path,
        segment_bytes: u64,
    ) -> Result<Journaled, StoreError> {
        let applied = applied_seq(inner.as_ref())?;
        let segment_bytes = if segment_bytes == 0 {
            log::SEGMENT_BYTES_DEFAULT
        } else {
            segment_bytes
        };
        let Some((log, records)) = Log::open(dir, applied, Some(segment_bytes))? else {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "another posguard process owns this data directory",
            ));
        };
        apply_records(inner.as_ref(), records)?;
        let log = Arc::new(Mutex::new(log));
        let failed = Arc::new(Mutex::new(None));
        let (to_applier, rx) = channel();
        let backlog = Arc::new(Backlog::default());
        let (store, log2, failed2) = (inner.clone(), log.clone(), failed.clone());
        let backlog2 = backlog.clone();
        let last = lock(&log).last_seq();
        let applied = Arc::new((Mutex::new(last), Condvar::new()));
        let applied2 = applied.clone();
        let readers_waiting = Arc::new(AtomicUsize::new(0));
        let readers_waiting2 = readers_waiting.clone();
        let applier = std::thread::Builder::new()
            .name("posguard-apply".into())
            .spawn(move || {
                let ends = Ends {
                    log: &log2,
                    failed: &failed2,
                    applied: &applied2,
                    backlog: &backlog2,
                    readers_waiting: &readers_waiting2,
                };
                run_applier(store.as_ref(), &rx, &ends)
            })
            .map_err(|e| StoreError::new(StoreErrorKind::Io, format!("start the applier: {e}")))?;
        Ok(Journaled {
            inner,
            log,
            to_applier: Some(to_applier),
            backlog,
            applier: Some(applier),
            failed,
            committed: std::sync::atomic::AtomicU64::new(last),
            applied,
            readers_waiting,
        })
    }

    /// Waits until everything committed so far has been applied to the database.
    fn caught_up(&self) -> Result<&dyn Store, StoreError> {
        let want = self.committed.load(std::sync::atomic::Ordering::Acquire);
        let (applied, signal) = &*self.applied;
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(READ_CATCH_UP_WAIT_MS);
        let mut done = lock(applied);
        if *done >= want {
            return Ok(self.inner.as_ref());
        }
        let _waiting = Waiting::new(&self.readers_waiting);
        while *done < want {
            if let Some(e) = lock(&self.failed).as_ref() {
                return Err(stopped(e));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::new(
                    StoreErrorKind::Unavailable,
                    "the database is behind the journal",
                ));
            }
            done = signal
                .wait_timeout(done, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        Ok(self.inner.as_ref())
    }
}

impl Drop for Journaled {
    fn drop(&mut self) {
        drop(self.to_applier.take());
        if let Some(applier) = self.applier.take() {
            let _ = applier.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Niceness of the background threads (applier, spare preparer). They need
/// throughput, not promptness: on a small machine their work must not delay the
/// threads that answer terminals.
const BACKGROUND_NICE: i32 = 10;

pub(crate) fn lower_priority() {
    // SAFETY: setpriority with PRIO_PROCESS and the calling thread's id changes only
    // this thread's niceness (Linux per-thread scheduling); it takes no pointers.
    let result = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            BACKGROUND_NICE,
        )
    };
    if result != 0 {
        eprintln!(
            "posguard store: lower a background thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Writes handed to the applier and not yet applied, and the signal that some were.
#[derive(Default)]
struct Backlog {
    writes: Mutex<usize>,
    drained: Condvar,
}

impl Backlog {
    /// Waits until `n` more writes fit (a batch larger than the whole budget waits for
    /// an empty backlog), then counts them. Fails if the applier has stopped.
    fn reserve(&self, n: usize, failed: &Mutex<Option<StoreError>>) -> Result<(), StoreError> {
        let mut writes = lock(&self.writes);
        while *writes > 0 && *writes + n > APPLY_BACKLOG_WRITES_MAX {
            if let Some(e) = lock(failed).as_ref() {
                return Err(stopped(e));
            }
            writes = self
                .drained
                .wait_timeout(writes, BACKLOG_RECHECK)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        *writes += n;
        Ok(())
    }

    fn release(&self, n: usize) {
        let mut writes = lock(&self.writes);
        *writes = writes.saturating_sub(n);
        self.drained.notify_all();
    }
}

fn stopped(e: &StoreError) -> StoreError {
    StoreError::new(
        e.kind,
        format!("the journal applier stopped: {}", e.context),
    )
}

/// Counts one waiting read for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the applier shares with the committing side.
struct Ends<'a> {
    log: &'a Mutex<Log>,
    failed: &'a Mutex<Option<StoreError>>,
    applied: &'a (Mutex<u64>, Condvar),
    backlog: &'a Backlog,
    readers_waiting: &'a AtomicUsize,
}

/// The batches to apply in one transaction, into `merged`, starting from one just
/// received: whatever else arrives within `APPLY_GATHER`, until `APPLY_MERGE_MIN_WRITES`,
/// a waiting read or the end of the commits. Returns the last sequence number.
fn gather(
    rx: &Receiver<(u64, Vec<Write>)>,
    first: (u64, Vec<Write>),
    readers_waiting: &AtomicUsize,
    merged: &mut Vec<Write>,
) -> u64 {
    let (mut last, writes) = first;
    merged.extend(writes);
    let deadline = std::time::Instant::now() + APPLY_GATHER;
    while merged.len() < APPLY_MERGE_WRITES_MAX {
        let next = match rx.try_recv() {
            Ok(batch) => Ok(batch),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                let now = std::time::Instant::now();
                if merged.len() >= APPLY_MERGE_MIN_WRITES
                    || now >= deadline
                    || readers_waiting.load(Ordering::SeqCst) > 0
                {
                    break;
                }
                rx.recv_timeout(APPLY_READER_POLL.min(deadline - now))
            }
        };
        match next {
            Ok((seq, writes)) => {
                last = seq;
                merged.extend(writes);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    last
}

fn run_applier(store: &dyn Store, rx: &Receiver<(u64, Vec<Write>)>, ends: &Ends<'_>) {
    lower_priority();
    // One buffer for every apply transaction. A write is 344 bytes: growing a fresh
    // vector to tens of thousands of them, page-faulting and copying at each doubling,
    // was a sixth of the applier's CPU (perf under load).
    let mut merged = Vec::with_capacity(APPLY_MERGE_WRITES_MAX + 1);
    while let Ok(first) = rx.recv() {
        merged.clear();
        let last = gather(rx, first, ends.readers_waiting, &mut merged);
        let count = merged.len();
        merged.push(Write::Meta {
            key: APPLIED_KEY.into(),
            value: last.to_string(),
        });
        if let Err(e) = store.commit(&merged) {
            // The batches are safe in the journal; a restart applies them again.
            eprintln!("posguard store: apply journal up to {last}: {e}");
            *lock(ends.failed) = Some(e);
            ends.applied.1.notify_all();
            ends.backlog.drained.notify_all();
            return;
        }
        lock(ends.log).forget_upto(last);
        *lock(&ends.applied.0) = last;
        ends.applied.1.notify_all();
        ends.backlog.release(count);
    }
}

impl Store for Journaled {
    fn commit(&self, batch: &[Write]) -> Result<(), StoreError> {
        self.commit_owned(batch.to_vec())
    }

    fn commit_owned(&self, batch: Vec<Write>) -> Result<(), StoreError> {
        if let Some(e) = lock(&self.failed).as_ref() {
            return Err(stopped(e));
        }
        let writes = batch.len();
        self.backlog.reserve(writes, &self.failed)?;
        let appended = lock(&self.log).append(&batch);
        let seq = appended.inspect_err(|_| self.backlog.release(writes))?;
        self.committed
            .fetch_max(seq, std::sync::atomic::Ordering::Release);
        self.to_applier
            .as_ref()
            .expect("present until drop")
            .send((seq, batch))
            .map_err(|_| {
                StoreError::new(StoreErrorKind::Unavailable, "the journal applier stopped")
            })
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        self.caught_up()?.load()
    }
    fn txn(&self, id: TxnId) -> Result<Option<TxnRecord>, StoreError> {
        self.caught_up()?.txn(id)
    }
    fn search_txns(&self, q: &TxnQuery) -> Result<Vec<TxnRecord>, StoreError> {
        self.caught_up()?.search_txns(q)
    }
    fn entries_of(&self, id: TxnId) -> Result<Vec<Entry>, StoreError> {
        self.caught_up()?.entries_of(id)
    }
    fn for_each_entry(
        &self,
        f: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.caught_up()?.for_each_entry(f)
    }
    fn for_each_txn(
        &self,
        f: &mut dyn FnMut(TxnRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.caught_up()?.for_each_txn(f)
    }
    fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>, StoreError> {
        self.caught_up()?.merchant(id)
    }
    fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        self.caught_up()?.merchants()
    }
    fn terminal(&self, id: &TerminalId) -> Result<Option<Terminal>, StoreError> {
        self.caught_up()?.terminal(id)
    }
    fn terminals(&self, merchant: Option<&MerchantId>) -> Result<Vec<Terminal>, StoreError> {
        self.caught_up()?.terminals(merchant)
    }
    fn card(&self, token: &CardToken) -> Result<Option<Card>, StoreError> {
        self.caught_up()?.card(token)
    }
    fn cards(&self) -> Result<Vec<Card>, StoreError> {
        self.caught_up()?.cards()
    }
    fn settlements(&self, terminal: &TerminalId) -> Result<Vec<Settlement>, StoreError> {
        self.caught_up()?.settlements(terminal)
    }
    fn api_token_by_hash(&self, sha256_hex: &str) -> Result<Option<ApiToken>, StoreError> {
        self.caught_up()?.api_token_by_hash(sha256_hex)
    }
    fn api_token_count(&self) -> Result<u64, StoreError> {
        self.caught_up()?.api_token_count()
    }
    fn risk_decision(&self, txn: TxnId) -> Result<Option<RiskDecision>, StoreError> {
        self.caught_up()?.risk_decision(txn)
    }
    fn alerts(&self, q: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
        self.caught_up()?.alerts(q)
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        self.caught_up()?.alert(id)
    }
    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>, StoreError> {
        self.caught_up()?.cases(q)
    }
    fn case(&self, id: u64) -> Result<Option<Case>, StoreError> {
        self.caught_up()?.case(id)
    }
    fn case_events(&self, case_id: u64) -> Result<Vec<CaseEvent>, StoreError> {
        self.caught_up()?.case_events(case_id)
    }
    fn labels_of(&self, txn: TxnId) -> Result<Vec<FraudLabel>, StoreError> {
        self.caught_up()?.labels_of(txn)
    }
    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.caught_up()?.meta_with_prefix(prefix)
    }
    fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.caught_up()?.meta_get(key)
    }
    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.commit_owned(vec![Write::Meta {
            key: key.into(),
            value: value.into(),
        }])
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_dir(tag: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("posguard-journal-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn merchant(n: u32) -> Write {
        Write::Merchant(Merchant {
            id: MerchantId(format!("M{n:07}")),
            name: format!("shop {n}"),
            mcc: "5411".into(),
            currency: Currency::CNY,
            fee_bps: 60,
        })
    }

    fn url(dir: &Path) -> String {
        format!("sqlite:{}", dir.join("posguard.db").display())
    }

    fn journaled(dir: &Path, segment_bytes: u64) -> Box<dyn Store> {
        let options = crate::OpenOptions {
            journal: true,
            journal_segment_bytes: segment_bytes,
            ..Default::default()
        };
        crate::open_with(&url(dir), options).unwrap()
    }

    /// Writes batches to the journal only, as if the process died before applying them.
    fn journal_only(dir: &Path, batches: &[Vec<Write>]) -> PathBuf {
        journal_only_in(dir, batches, 64 * 1024)
    }

    fn journal_only_in(dir: &Path, batches: &[Vec<Write>], segment_bytes: u64) -> PathBuf {
        let db = crate::open(&url(dir)).unwrap();
        let applied = applied_seq(db.as_ref()).unwrap();
        drop(db);
        let jdir = dir_for(&dir.join("posguard.db"));
        let (mut log, _) = Log::open(&jdir, applied, Some(segment_bytes))
            .unwrap()
            .unwrap();
        for b in batches {
            log.append(b).unwrap();
        }
        jdir
    }

    fn segments(jdir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(jdir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_full_backlog_holds_commits_until_the_applier_drains_it() {
        let backlog = Arc::new(Backlog::default());
        let failed = Arc::new(Mutex::new(None));
        backlog
            .reserve(APPLY_BACKLOG_WRITES_MAX - 10, &failed)
            .unwrap();
        backlog.reserve(10, &failed).unwrap();
        let (b2, f2) = (backlog.clone(), failed.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            b2.reserve(5, &f2).unwrap();
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "a commit past the budget waits"
        );
        backlog.release(100);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("room made: the commit goes on");
        waiter.join().unwrap();
        assert_eq!(*lock(&backlog.writes), APPLY_BACKLOG_WRITES_MAX - 95);
    }

    #[test]
    fn a_batch_larger_than_the_budget_goes_when_the_backlog_is_empty() {
        let backlog = Backlog::default();
        let failed = Mutex::new(None);
        backlog
            .reserve(APPLY_BACKLOG_WRITES_MAX * 2, &failed)
            .unwrap();
        backlog.release(APPLY_BACKLOG_WRITES_MAX * 2);
        assert_eq!(*lock(&backlog.writes), 0);
    }

    #[test]
    fn a_commit_waiting_on_a_stopped_applier_fails_instead_of_hanging() {
        let backlog = Arc::new(Backlog::default());
        let failed = Arc::new(Mutex::new(None));
        backlog.reserve(APPLY_BACKLOG_WRITES_MAX, &failed).unwrap();
        let (b2, f2) = (backlog.clone(), failed.clone());
        let waiter = std::thread::spawn(move || b2.reserve(1, &f2));
        std::thread::sleep(Duration::from_millis(50));
        *lock(&failed) = Some(StoreError::new(StoreErrorKind::Io, "disk full"));
        let err = waiter.join().unwrap().expect_err("the applier stopped");
        assert!(err.to_string().contains("applier stopped"), "{err}");
    }

    #[test]
    fn acknowledged_batches_are_applied_at_the_next_open() {
        let dir = temp_dir("ack");
        journal_only(&dir, &[vec![merchant(1)], vec![merchant(2), merchant(3)]]);
        let db = crate::open(&url(&dir)).unwrap();
        assert_eq!(db.merchants().unwrap().len(), 3);
        assert_eq!(applied_seq(db.as_ref()).unwrap(), 2);
    }

    /// The applier takes every batch already queued into one transaction (up to the
    /// merge bound), in order, and reports the last sequence number it took.
    #[test]
    fn gathering_merges_queued_batches_in_order_up_to_the_bound() {
        let (tx, rx) = channel();
        let per = APPLY_MERGE_WRITES_MAX / 2;
        for seq in 2..=4u64 {
            tx.send((seq, (0..per).map(|_| merchant(seq as u32)).collect()))
                .unwrap();
        }
        let mut merged = Vec::new();
        let first = (1, vec![merchant(1)]);
        let last = gather(&rx, first, &AtomicUsize::new(0), &mut merged);
        // 1 + per + per reaches the bound: the fourth batch waits for the next one.
        assert_eq!(last, 3);
        assert_eq!(merged.len(), 1 + 2 * per);
        assert_eq!(merged[0], merchant(1));
        assert_eq!(merged[1], merchant(2));
        assert_eq!(merged[merged.len() - 1], merchant(3));
        assert_eq!(rx.try_recv().map(|b| b.0), Ok(4));
    }

    /// Commits that stop (the store is closing) end the gathering with what it has.
    #[test]
    fn gathering_ends_when_the_committers_are_gone() {
        let (tx, rx) = channel();
        tx.send((2, vec![merchant(2)])).unwrap();
        drop(tx);
        let mut merged = Vec::new();
        let last = gather(
            &rx,
            (1, vec![merchant(1)]),
            &AtomicUsize::new(0),
            &mut merged,
        );
        assert_eq!((last, merged), (2, vec![merchant(1), merchant(2)]));
    }

    #[test]
    fn reads_see_every_acknowledged_commit() {
        let dir = temp_dir("read");
        let store = journaled(&dir, 64 * 1024);
        for n in 0..50 {
            store.commit(&[merchant(n)]).unwrap();
            assert_eq!(store.merchants().unwrap().len(), n as usize + 1);
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_rest_applied() {
        let dir = temp_dir("torn");
        let jdir = journal_only(&dir, &[vec![merchant(1)], vec![merchant(2)]]);
        let newest = segments(&jdir).pop().unwrap();
        let bytes = std::fs::read(&newest).unwrap();
        let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
        // Half a record header where the next record would go.
        let mut torn = bytes[..end].to_vec();
        torn.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&newest, &torn).unwrap();
        let db = crate::open(&url(&dir)).unwrap();
        assert_eq!(db.merchants().unwrap().len(), 2);
    }

    #[test]
    fn damage_before_the_tail_is_reported_not_skipped() {
        let dir = temp_dir("damage");
        let batches: Vec<_> = (0..200).map(|n| vec![merchant(n)]).collect();
        let jdir = journal_only_in(&dir, &batches, 1024);
        assert!(segments(&jdir).len() > 1);
        let first = segments(&jdir).remove(0);
        let mut bytes = std::fs::read(&first).unwrap();
        bytes[20] ^= 0xFF;
        std::fs::write(&first, &bytes).unwrap();
        let err = crate::open(&url(&dir))
            .err()
            .expect("a damaged journal is an error");
        assert_eq!(err.kind, StoreErrorKind::Corrupt, "{err}");
    }

    #[test]
    fn segments_rotate_and_applied_ones_are_removed() {
        let dir = temp_dir("rotate");
        let store = journaled(&dir, 4 * 1024);
        for n in 0..400 {
            store.commit(&[merchant(n)]).unwrap();
        }
        assert_eq!(store.merchants().unwrap().len(), 400);
        let jdir = dir_for(&dir.join("posguard.db"));
        assert!(
            segments(&jdir).len() <= 3,
            "applied segments are removed: {:?}",
            segments(&jdir)
        );
        drop(store);
        let reopened = journaled(&dir, 4 * 1024);
        assert_eq!(reopened.merchants().unwrap().len(), 400);
    }

    #[test]
    fn one_process_owns_the_journal() {
        let dir = temp_dir("lock");
        let store = journaled(&dir, 64 * 1024);
        store.commit(&[merchant(1)]).unwrap();
        let options = crate::OpenOptions {
            journal: true,
            journal_segment_bytes: 64 * 1024,
            ..Default::default()
        };
        let err = crate::open_with(&url(&dir), options)
            .err()
            .expect("the journal is taken");
        assert_eq!(err.kind, StoreErrorKind::Unavailable);
        // A reader (ledger verify) still opens and sees what was applied.
        let reader = crate::open(&url(&dir)).unwrap();
        assert_eq!(store.merchants().unwrap().len(), 1);
        assert_eq!(reader.merchants().unwrap().len(), 1);
    }

    #[test]
    fn risk_writes_round_trip_through_the_journal() {
        let dir = temp_dir("risk");
        let jdir = dir_for(&dir.join("posguard.db"));
        let risk = wire::tests::risk_writes();
        let batches = [risk.clone(), vec![merchant(1)], risk];
        {
            let (mut log, _) = Log::open(&jdir, 0, Some(64 * 1024)).unwrap().unwrap();
            for b in &batches {
                log.append(b).unwrap();
            }
        }
        let (_, records) = Log::open(&jdir, 0, None).unwrap().unwrap();
        let got: Vec<Vec<Write>> = records.into_iter().map(|r| r.writes).collect();
        assert_eq!(got, batches);
    }
}

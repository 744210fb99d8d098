//! posguard's durable storage: one `Store` trait, two backends.
//!
//! - SQLite (the default, no service to run): `sqlite:///abs/path/posguard.db` or
//!   `sqlite:relative/path.db`. WAL journal, `synchronous=FULL`, one writer connection
//!   and a few read-only connections so API reads never queue behind a commit.
//! - PostgreSQL: `postgres://user@host:port/db` or `postgresql://...`, any parameter
//!   the `postgres` crate accepts, plus `schema=NAME`: the store creates that schema
//!   if needed and sets `search_path` to it on every connection it opens (tests use
//!   this to isolate themselves). Connections are plain TCP/Unix sockets, no TLS.
//!
//! Architecture Invariant: the store holds no business rules. It makes each batch of
//! `model::Write`s durable atomically (one fsync'd transaction) and reads them back; the
//! engine decides what to write. Rows that do not decode are `Corrupt` errors, never
//! panics.

mod error;
mod journal;
mod pool;
mod postgres;
mod query;
mod reads;
mod risk;
mod rows;
mod sqlite;
mod url;

pub use error::{StoreError, StoreErrorKind};
pub use query::{
    ALERT_QUERY_LIMIT_DEFAULT, ALERT_QUERY_LIMIT_MAX, AlertQuery, CASE_QUERY_LIMIT_DEFAULT,
    CASE_QUERY_LIMIT_MAX, CaseQuery, TXN_QUERY_LIMIT_DEFAULT, TXN_QUERY_LIMIT_MAX, TxnQuery,
};

use model::{
    Alert, ApiToken, Card, CardToken, Case, CaseEvent, Entry, FraudLabel, Merchant, MerchantId,
    RiskDecision, Settlement, Snapshot, Terminal, TerminalId, TxnId, TxnRecord, Write,
};

/// Rows fetched per round trip by `for_each_entry` / `for_each_txn`.
const STREAM_PAGE_ROWS: i64 = 1000;

/// Durable storage for the host. Every method is blocking: call it from the writer
/// thread or from `spawn_blocking`.
pub trait Store: Send + Sync + 'static {
    /// Applies a batch atomically and durably, in order. Txn ids and entry ids are
    /// assigned by the caller and unique; inserting an existing txn id, idem_key, entry
    /// id, settlement id, api token, risk decision (per txn), alert id or case event id
    /// is a `Conflict`, and a `TxnUpdate` of an unknown id is `NotFound`. A `Case`
    /// replaces the case with its id; labels are only ever added. On any error nothing
    /// of the batch is stored.
    fn commit(&self, batch: &[Write]) -> Result<(), StoreError>;
    /// `commit` for a batch the caller no longer needs (saves a copy where the store
    /// keeps the batch, as the journal's applier does).
    fn commit_owned(&self, batch: Vec<Write>) -> Result<(), StoreError> {
        self.commit(&batch)
    }
    /// Everything the engine needs after a restart (see `model::Snapshot`), read in one
    /// consistent snapshot.
    fn load(&self) -> Result<Snapshot, StoreError>;
    fn txn(&self, id: TxnId) -> Result<Option<TxnRecord>, StoreError>;
    /// Matching transactions in ascending id order; see `TxnQuery`.
    fn search_txns(&self, q: &TxnQuery) -> Result<Vec<TxnRecord>, StoreError>;
    /// The entries of one transaction, in id order.
    fn entries_of(&self, id: TxnId) -> Result<Vec<Entry>, StoreError>;
    /// Calls `f` with every entry in id order, a page at a time; stops at `f`'s first error.
    fn for_each_entry(
        &self,
        f: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Calls `f` with every transaction in id order, a page at a time.
    fn for_each_txn(
        &self,
        f: &mut dyn FnMut(TxnRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>, StoreError>;
    /// All merchants by id.
    fn merchants(&self) -> Result<Vec<Merchant>, StoreError>;
    fn terminal(&self, id: &TerminalId) -> Result<Option<Terminal>, StoreError>;
    /// All terminals, or those of one merchant, by id.
    fn terminals(&self, merchant: Option<&MerchantId>) -> Result<Vec<Terminal>, StoreError>;
    fn card(&self, token: &CardToken) -> Result<Option<Card>, StoreError>;
    /// All cards by token.
    fn cards(&self) -> Result<Vec<Card>, StoreError>;
    /// A terminal's settlements, oldest first.
    fn settlements(&self, terminal: &TerminalId) -> Result<Vec<Settlement>, StoreError>;
    fn api_token_by_hash(&self, sha256_hex: &str) -> Result<Option<ApiToken>, StoreError>;
    fn api_token_count(&self) -> Result<u64, StoreError>;
    /// The risk decision of one transaction.
    fn risk_decision(&self, txn: TxnId) -> Result<Option<RiskDecision>, StoreError>;
    /// Matching alerts in ascending id order; see `AlertQuery`.
    fn alerts(&self, q: &AlertQuery) -> Result<Vec<Alert>, StoreError>;
    fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError>;
    /// Matching cases (their current state) in ascending id order; see `CaseQuery`.
    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>, StoreError>;
    /// A case's current state.
    fn case(&self, id: u64) -> Result<Option<Case>, StoreError>;
    /// Every step taken on one case, in id order.
    fn case_events(&self, case_id: u64) -> Result<Vec<CaseEvent>, StoreError>;
    /// The fraud labels of one transaction, oldest first (the last one counts).
    fn labels_of(&self, txn: TxnId) -> Result<Vec<FraudLabel>, StoreError>;
    /// Small key/value metadata (e.g. "instance_id").
    fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Every metadata entry whose key starts with `prefix`, by key.
    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Sets (or replaces) a metadata value, durably.
    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    /// Commit through a journal (SQLite only): durable at the journal's fsync, applied
    /// to the database in the background. For the process that owns the data.
    pub journal: bool,
    /// Size of a journal segment, preallocated on disk; 0 for the default (64 MiB).
    pub journal_segment_bytes: u64,
    /// SQLite only: how many transactions' search keys (card, terminal, merchant) are
    /// held and written together as one sorted run; 0 for the default (100,000). Tests
    /// set it small to search across written runs and the tail.
    pub key_run_txns: usize,
}

/// Opens (creating and migrating if needed) the store a URL names; see the crate docs
/// for the URL forms. An SQLite database's journal, if one is left and no other process
/// owns it, is applied first, so what is read is everything that was committed.
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    open_with(url, OpenOptions::default())
}

pub fn open_with(url: &str, options: OpenOptions) -> Result<Box<dyn Store>, StoreError> {
    match url::parse(url)? {
        url::Target::Sqlite(path) => {
            let db = reads::Db(sqlite::SqliteStore::open(&path, options.key_run_txns)?);
            let dir = journal::dir_for(&path);
            if options.journal {
                let db: std::sync::Arc<dyn Store> = std::sync::Arc::new(db);
                let segment = options.journal_segment_bytes;
                return Ok(Box::new(journal::Journaled::open(db, &dir, segment)?));
            }
            journal::recover(&db, &dir)?;
            Ok(Box::new(db))
        }
        url::Target::Postgres { conninfo, schema } => Ok(Box::new(reads::Db(
            postgres::PgStore::open(&conninfo, schema)?,
        ))),
    }
}

/// Wall-clock milliseconds, for bookkeeping columns only (migration times); the
/// engine's own timestamps come in with its writes.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Drops the PostgreSQL schemas that test runs leave behind: names of the form
/// `<tag>_<pid>_<n>` whose process is no longer running. For test suites, at start.
/// Runs on its own thread (the PostgreSQL client must not run inside an async runtime).
pub fn sweep_test_schemas(base_url: &str) -> Result<u32, StoreError> {
    let base = base_url.to_owned();
    std::thread::spawn(move || postgres::sweep_test_schemas(&base))
        .join()
        .unwrap_or_else(|_| {
            Err(StoreError::new(
                StoreErrorKind::Io,
                "sweep test schemas: the thread panicked",
            ))
        })
}

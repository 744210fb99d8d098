//! The embedded backend: one SQLite file in WAL mode.

mod keys;
mod migrations;
mod rows;
mod write;

use crate::error::{StoreError, StoreErrorKind};
use crate::pool::{Pool, lock};
use crate::reads::{Backend, Sql};
use model::Write;
use rows::{SqliteSql, error};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Read-only connections next to the writer: enough for the API's concurrent queries
/// on a small machine, without a thread per connection.
const SQLITE_READERS: usize = 3;
/// How long a statement waits for another connection's lock (a checkpoint, a second
/// process) before failing with `Unavailable`.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Prepared statements kept per connection; the store uses a few dozen distinct ones.
const SQLITE_STATEMENT_CACHE: usize = 64;
/// The writer's page cache. Every commit touches the right edge of each index; a cache
/// that holds them avoids re-reading pages from the file on every batch.
const SQLITE_WRITER_CACHE_KIB: i64 = 128 * 1024;
/// Memory-mapped reads: pages are read in place instead of copied by pread.
const SQLITE_MMAP_BYTES: i64 = 1 << 30;
/// Page size of a new database (an existing one keeps its own until a VACUUM). The
/// txns_card index takes keys in random order, so each purchase dirties about one of its
/// leaves whatever the page size; larger pages make every tree shallower (fewer page
/// lookups per insert) and the append-only tables cost fewer WAL frames. Measured with
/// the store's apply bench (1.5M txns): 38.5 -> 32 CPU us per purchase with the WAL
/// bound below, over 1024-byte pages.
const SQLITE_PAGE_BYTES: u32 = 4096;
/// The writer checkpoints the WAL into the database once it reaches this many pages
/// (256 MiB at 4 KiB): a bound on the WAL's size. A larger WAL lets a checkpoint write
/// each random index leaf once for many purchases that dirtied it: the same number of
/// 4 KiB pages as the old 1 KiB ones (64 MiB) cost 5.5 us more per purchase.
/// (A background checkpointer was measured and dropped: its large writes and fsyncs
/// stalled the journal's fsync through the file system's shared journal, raising p99
/// latency several-fold.)
const WAL_AUTOCHECKPOINT_PAGES: i64 = 65_536;

pub(crate) struct SqliteStore {
    writer: Mutex<Writer>,
    readers: Pool<Connection>,
}

/// The one connection that writes, and how far its search keys are behind (`keys`).
struct Writer {
    conn: Connection,
    keys: keys::KeyRun,
}

impl SqliteStore {
    /// Opens the database at `path`; `key_run_txns` is how many transactions' search
    /// keys are written together (0 for the default).
    pub(crate) fn open(path: &Path, key_run_txns: usize) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Io,
                    format!("create database directory: {e}"),
                )
            })?;
        }
        let mut writer = Connection::open(path).map_err(|e| error("open database", e))?;
        configure(&writer)?;
        // WAL lets readers run during a commit; FULL fsyncs the WAL on every commit so
        // an acknowledged batch survives power loss, not just a process crash.
        // Set before the first table exists (ignored on an existing database).
        writer
            .execute_batch(&format!("PRAGMA page_size = {SQLITE_PAGE_BYTES};"))
            .map_err(|e| error("set page size", e))?;
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(|e| error("set journal mode", e))?;
        writer
            .execute_batch(&format!(
                "PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}; \
                 PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
            ))
            .map_err(|e| error("size the writer's cache", e))?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| error("read journal mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::new(
                StoreErrorKind::Io,
                "database refused WAL journal mode",
            ));
        }
        migrations::run(&mut writer)?;
        let run = if key_run_txns == 0 {
            keys::KEY_RUN_TXNS
        } else {
            key_run_txns
        };
        let keys = keys::KeyRun::load(&writer, run)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let readers = (0..SQLITE_READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(path, flags)
                    .map_err(|e| error("open reader", e))?;
                configure(&conn)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SqliteStore {
            writer: Mutex::new(Writer { conn: writer, keys }),
            readers: Pool::new(readers),
        })
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
        .map_err(|e| error("set busy timeout", e))?;
    conn.set_prepared_statement_cache_capacity(SQLITE_STATEMENT_CACHE);
    conn.execute_batch(&format!("PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"))
        .map_err(|e| error("map the database", e))?;
    Ok(())
}

impl Backend for SqliteStore {
    const NAME: &'static str = "sqlite";

    fn read<T>(
        &self,
        snapshot: bool,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.readers.get();
        if !snapshot {
            return f(&mut SqliteSql(&conn));
        }
        // A deferred transaction holds one WAL snapshot from its first read to its end.
        let tx = conn.transaction().map_err(|e| error("begin read", e))?;
        let out = f(&mut SqliteSql(&tx))?;
        tx.commit().map_err(|e| error("end read", e))?;
        Ok(out)
    }

    fn commit(&self, batch: &[Write]) -> Result<(), StoreError> {
        let writer = &mut *lock(&self.writer);
        write::commit(&mut writer.conn, &mut writer.keys, batch)
    }

    fn search_txns(&self, q: &crate::TxnQuery) -> Result<Vec<model::TxnRecord>, StoreError> {
        self.read(true, |db| keys::search(db, q))
    }

    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        lock(&self.writer)
            .conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute((key, value)))
            .map(drop)
            .map_err(|e| error("set meta", e))
    }
}

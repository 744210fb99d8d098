//! The shared store suite against SQLite, one fresh database file per test.

mod common;

use common::Harness;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use store::Store;

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "posguard-store-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn with_sqlite(test: fn(&dyn Store, &Harness)) {
    with_sqlite_options(store::OpenOptions::default(), test);
}

fn with_sqlite_options(options: store::OpenOptions, test: fn(&dyn Store, &Harness)) {
    let dir = TempDir::new();
    let path = dir.0.join("nested").join("posguard.db");
    let url = format!("sqlite://{}", path.display());
    let store = store::open_with(&url, options).unwrap();
    assert_eq!(store.backend(), "sqlite");
    let raw = move || rusqlite::Connection::open(&path).map_err(|e| e.to_string());
    let raw2 = raw.clone();
    let h = Harness {
        url,
        exec: Box::new(move |sql| raw()?.execute_batch(sql).map_err(|e| e.to_string())),
        scalar: Box::new(move |sql| {
            raw2()?
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| e.to_string())
        }),
    };
    test(&*store, &h);
}

store_suite!(with_sqlite);

/// The whole suite again with search keys written in runs of two transactions, so that
/// searches cross written runs, the unwritten tail and ids committed late.
mod small_key_runs {
    use super::*;

    fn with_small_key_runs(test: fn(&dyn Store, &Harness)) {
        let options = store::OpenOptions {
            key_run_txns: 2,
            ..Default::default()
        };
        with_sqlite_options(options, test);
    }

    store_suite!(with_small_key_runs);
}

/// The same reads through the journal (the embedded default for the host): each read
/// waits for the applier, so it sees every commit before it.
mod journaled {
    use super::*;

    fn with_journaled_sqlite(test: fn(&dyn Store, &Harness)) {
        let dir = TempDir::new();
        let path = dir.0.join("posguard.db");
        let url = format!("sqlite://{}", path.display());
        let options = store::OpenOptions {
            journal: true,
            journal_segment_bytes: 1 << 20,
            ..Default::default()
        };
        let store = store::open_with(&url, options).unwrap();
        let raw = move || rusqlite::Connection::open(&path).map_err(|e| e.to_string());
        let raw2 = raw.clone();
        let h = Harness {
            url,
            exec: Box::new(move |sql| raw()?.execute_batch(sql).map_err(|e| e.to_string())),
            scalar: Box::new(move |sql| {
                raw2()?
                    .query_row(sql, [], |r| r.get(0))
                    .map_err(|e| e.to_string())
            }),
        };
        test(&*store, &h);
        drop(store);
    }

    store_suite!(@risk_reads with_journaled_sqlite);
}

#[test]
fn the_database_file_uses_wal() {
    with_sqlite(|_, h| {
        let conn = rusqlite::Connection::open(h.url.trim_start_matches("sqlite://")).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    });
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let dir = TempDir::new();
    let path = dir.0.join("junk.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = store::open(&format!("sqlite://{}", path.display()))
        .err()
        .unwrap();
    assert!(
        matches!(
            err.kind,
            store::StoreErrorKind::Corrupt | store::StoreErrorKind::Migration
        ),
        "{err}"
    );
}

#[test]
fn bad_urls_are_refused() {
    for url in [
        "",
        "sqlite:",
        "mysql://localhost/x",
        "postgres://h/db?schema=Upper",
    ] {
        let err = store::open(url).err().unwrap();
        assert_eq!(err.kind, store::StoreErrorKind::Invalid, "{url}");
    }
}

//! The shared store suite against PostgreSQL. Each test gets its own schema (random
//! name, dropped afterwards), so tests run in parallel on one database.
//!
//! Set `POSGUARD_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`); without
//! it each test prints "skipped" and passes, except under `CI=true`, where it fails.

mod common;

use common::Harness;
use postgres::{Client, NoTls};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use store::Store;

fn base_url() -> Option<String> {
    match std::env::var("POSGUARD_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("POSGUARD_TEST_PG_URL must be set when CI=true")
        }
        _ => {
            eprintln!("skipped: POSGUARD_TEST_PG_URL not set");
            None
        }
    }
}

fn unique_schema() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "pgtest_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn with_schema(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}schema={schema}")
}

fn db_message(e: postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

/// Drops the test's schema even when the test panics.
struct DropSchema<'a> {
    base: &'a str,
    schema: String,
}

impl Drop for DropSchema<'_> {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(self.base, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

fn with_pg(test: fn(&dyn Store, &Harness)) {
    let Some(base) = base_url() else { return };
    let guard = DropSchema {
        base: &base,
        schema: unique_schema(),
    };
    let url = with_schema(&base, &guard.schema);
    let store = store::open(&url).unwrap();
    assert_eq!(store.backend(), "postgres");
    let mut raw = Client::connect(&base, NoTls).unwrap();
    raw.batch_execute(&format!("SET search_path TO {}", guard.schema))
        .unwrap();
    let raw = std::rc::Rc::new(RefCell::new(raw));
    let raw2 = raw.clone();
    let h = Harness {
        url,
        exec: Box::new(move |sql| raw.borrow_mut().batch_execute(sql).map_err(db_message)),
        scalar: Box::new(move |sql| {
            let row = raw2.borrow_mut().query_one(sql, &[]).map_err(db_message)?;
            row.try_get(0).map_err(db_message)
        }),
    };
    test(&*store, &h);
    drop(store);
}

store_suite!(with_pg);

#[test]
fn the_search_path_isolates_schemas() {
    with_pg(|s, h| {
        s.commit(&common::world(2)).unwrap();
        let base = h
            .url
            .split("schema=")
            .next()
            .unwrap_or_default()
            .trim_end_matches(['?', '&']);
        let other = DropSchema {
            base,
            schema: unique_schema(),
        };
        let neighbour = store::open(&with_schema(base, &other.schema)).unwrap();
        assert!(neighbour.load().unwrap().txns.is_empty());
        assert_eq!(s.load().unwrap().txns.len(), 2);
    });
}

#[test]
fn an_unreachable_server_is_unavailable() {
    // Port 1 on localhost refuses connections immediately.
    let err = store::open("postgres://postgres@127.0.0.1:1/test?connect_timeout=2")
        .err()
        .unwrap();
    assert_eq!(err.kind, store::StoreErrorKind::Unavailable, "{err}");
}

#[test]
fn a_broken_connection_fails_one_call_then_reconnects() {
    let Some(base) = base_url() else { return };
    let guard = DropSchema {
        base: &base,
        schema: unique_schema(),
    };
    // application_name lets this test kill its own connections and nobody else's.
    let url = format!(
        "{}&application_name={}",
        with_schema(&base, &guard.schema),
        guard.schema
    );
    let s = store::open(&url).unwrap();
    s.commit(&common::world(1)).unwrap();
    assert_eq!(s.load().unwrap().txns.len(), 1);
    let mut admin = Client::connect(&base, NoTls).unwrap();
    let killed = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&guard.schema],
        )
        .unwrap();
    assert!(killed >= 2, "writer and one reader were connected");

    let err = s.commit(&[model::Write::Txn(common::txn(2))]).unwrap_err();
    assert_eq!(err.kind, store::StoreErrorKind::Unavailable, "{err}");
    // pg_terminate_backend is asynchronous: a dying backend can fail one more call.
    // The store reconnects each time; a commit that did reach the server before its
    // connection died shows up as Conflict on the retry.
    for attempt in 1.. {
        match s.commit(&[model::Write::Txn(common::txn(2))]) {
            Ok(()) => break,
            Err(e) if e.kind == store::StoreErrorKind::Conflict => break,
            Err(e) if e.kind == store::StoreErrorKind::Unavailable && attempt < 5 => continue,
            Err(e) => panic!("commit after reconnect: {e}"),
        }
    }
    let mut attempts = 0;
    let snap = loop {
        attempts += 1;
        match s.load() {
            Ok(snap) => break snap,
            Err(e) => assert_eq!(e.kind, store::StoreErrorKind::Unavailable, "{e}"),
        }
        assert!(attempts < 5, "readers reconnect");
    };
    assert_eq!(snap.txns.len(), 2);
}

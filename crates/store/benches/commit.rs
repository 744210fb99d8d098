//! Group commit cost: one batch of 1000 purchases (1 Txn + 4 Entries each) and 10
//! TxnUpdates, committed durably (fsync included). SQLite in a temp dir always;
//! PostgreSQL when `POSGUARD_TEST_PG_URL` is set (own schema, dropped afterwards).
//!
//! cargo bench -p store --bench commit

#[allow(dead_code, unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;

use divan::Bencher;
use divan::counter::ItemsCount;
use model::{TxnId, TxnStatus, TxnUpdate, Write};
use std::cell::Cell;
use store::Store;

const BATCH_TXNS: u64 = 1000;
const BATCH_UPDATES: u64 = 10;

fn main() {
    divan::main();
}

/// The batch whose first txn id is `first`; updates refer to txns of the same batch.
fn batch(first: u64) -> Vec<Write> {
    let mut out = Vec::with_capacity(2 * BATCH_TXNS as usize + BATCH_UPDATES as usize);
    for id in first..first + BATCH_TXNS {
        let mut t = common::txn(id);
        t.idem_key = format!("bench:{id}");
        out.push(Write::Txn(t));
        out.push(Write::Entries(common::entries(id)));
    }
    out.extend((0..BATCH_UPDATES).map(|i| {
        Write::TxnUpdate(TxnUpdate {
            id: TxnId(first + i * 7),
            status: TxnStatus::Voided,
            refunded_minor: 0,
        })
    }));
    out
}

fn run(bencher: Bencher, store: &dyn Store) {
    let next = Cell::new(1u64);
    bencher
        .counter(ItemsCount::new(BATCH_TXNS as usize))
        .with_inputs(|| {
            let first = next.get();
            next.set(first + BATCH_TXNS);
            batch(first)
        })
        .bench_local_values(|b| store.commit(&b).expect("commit"));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn sqlite_batch_1000(bencher: Bencher) {
    let dir = std::env::temp_dir().join(format!("posguard-bench-{}", std::process::id()));
    let store = store::open(&format!("sqlite://{}/bench.db", dir.display())).expect("open");
    run(bencher, &*store);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn postgres_batch_1000(bencher: Bencher) {
    let Ok(base) = std::env::var("POSGUARD_TEST_PG_URL") else {
        eprintln!("skipped: POSGUARD_TEST_PG_URL not set");
        return bencher.bench(|| ());
    };
    let schema = format!("pgbench_{}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = store::open(&format!("{base}{sep}schema={schema}")).expect("open");
    run(bencher, &*store);
    drop(store);
    if let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

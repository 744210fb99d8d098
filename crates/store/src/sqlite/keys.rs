//! The embedded store's search index: which transactions carry a card, a terminal, a
//! merchant (`txn_keys`, migration V5). A key is one integer, a 64-bit hash of what it
//! names (`key_of`), so the table is small and its comparisons cheap; a search still
//! compares the whole value on the transaction row, so a collision costs a lookup,
//! never a wrong answer.
//!
//! Why not three ordinary indexes on `txns`: a card index takes every purchase's key at
//! a random place, so every purchase dirtied about one leaf page of it (a 4 KiB WAL
//! frame, then a checkpoint write), and the terminal and merchant indexes one of their
//! few hundred right edges per apply. That upkeep was half of the applier's CPU per
//! purchase (apply bench, 1.5M txns: 50 -> 26 us with the three dropped). Here the keys
//! are written once `KEY_RUN_TXNS` transactions have come in, together and sorted: a
//! run dirties each leaf it touches once, for all the purchases that land on it.
//!
//! Invariant: every transaction with id <= `upto` (meta `txn_keys_upto`, written in the
//! same database transaction as the run) has its keys in `txn_keys`. A search walks
//! `txn_keys` up to `upto` and scans the tail of `txns` above it, which is at most one
//! run plus one batch. A run is read back from `txns` under the write lock, so nothing
//! but a count lives in memory: a restart, or a second process writing the same file,
//! cannot lose a key.

use super::rows::error;
use crate::error::StoreError;
use crate::query::{Param, TXN_QUERY_LIMIT_MAX, TxnQuery, txn_filter};
use crate::reads::{Sql, all};
use crate::rows::{self, TXN_COLS, to_i64};
use model::TxnRecord;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction};

/// Transactions whose keys are written together as one sorted run. Bounds the tail a
/// search scans, and the memory a run takes while it is written (three 16-byte keys per
/// transaction).
pub(super) const KEY_RUN_TXNS: usize = 100_000;
/// The meta key holding the highest transaction id all of whose keys are written.
pub(super) const UPTO_KEY: &str = "txn_keys_upto";
const INSERT_KEY: &str = "INSERT OR IGNORE INTO txn_keys (key, txn_id) VALUES (?1, ?2)";
const SET_UPTO: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// What a key names; the number is hashed with the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Card = 1,
    Terminal = 2,
    Merchant = 3,
}

/// One row of `txn_keys`; the order is the table's primary key order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TxnKey {
    key: i64,
    txn_id: i64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stored key of `value` as a `kind`: FNV-1a (64-bit) over the kind's byte and the
/// value's UTF-8 bytes. Stored, so it never changes (a test pins it).
pub(super) fn key_of(kind: KeyKind, value: &str) -> i64 {
    let mut h = FNV_OFFSET;
    for b in std::iter::once(kind as u8).chain(value.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

fn keys_of(id: i64, card: Option<&str>, terminal: &str, merchant: &str, out: &mut Vec<TxnKey>) {
    let mut push = |kind, value| {
        out.push(TxnKey {
            key: key_of(kind, value),
            txn_id: id,
        })
    };
    if let Some(card) = card {
        push(KeyKind::Card, card);
    }
    push(KeyKind::Terminal, terminal);
    push(KeyKind::Merchant, merchant);
}

/// How many transactions have been committed above `upto` since the last run: when
/// that reaches `run_txns`, the next batch writes the run.
pub(super) struct KeyRun {
    run_txns: usize,
    unwritten: usize,
}

/// One batch's view of the keys: `upto` as the batch began, and how many transactions
/// it adds above it.
pub(super) struct Fresh {
    upto: i64,
    txns: usize,
}

impl KeyRun {
    pub(super) fn load(conn: &Connection, run_txns: usize) -> Result<KeyRun, StoreError> {
        assert!(run_txns > 0, "a run holds at least one transaction");
        let upto = read_upto_conn(conn)?;
        let unwritten: i64 = conn
            .query_row("SELECT COUNT(*) FROM txns WHERE id > ?1", [upto], |r| {
                r.get(0)
            })
            .map_err(|e| error("count the unindexed transactions", e))?;
        Ok(KeyRun {
            run_txns,
            unwritten: usize::try_from(unwritten).unwrap_or(0),
        })
    }

    /// Starts a batch: reads `upto` inside its transaction (the database, not this
    /// process, is the truth: another process may have written a run).
    pub(super) fn begin(&self, tx: &Transaction<'_>) -> Result<Fresh, StoreError> {
        Ok(Fresh {
            upto: read_upto_conn(tx)?,
            txns: 0,
        })
    }

    /// Notes a transaction the batch inserts. One at or below `upto` (committed after a
    /// higher id was written) gets its keys written now, to keep the invariant.
    pub(super) fn note(
        &self,
        tx: &Transaction<'_>,
        fresh: &mut Fresh,
        t: &TxnRecord,
    ) -> Result<(), StoreError> {
        let id = to_i64(t.id.0, "txn id")?;
        if id > fresh.upto {
            fresh.txns += 1;
            return Ok(());
        }
        let mut late = Vec::new();
        let card = t.card_token.as_ref().map(|c| c.as_str());
        keys_of(
            id,
            card,
            t.terminal_id.as_str(),
            t.merchant_id.as_str(),
            &mut late,
        );
        insert(tx, late.iter())
    }

    /// When the tail makes a run, writes the keys of every transaction above `upto` in
    /// key order (read back from `txns`, this batch's included) and moves `upto` to the
    /// highest of them, in the batch's transaction. Returns whether it wrote.
    pub(super) fn write_if_full(
        &self,
        tx: &Transaction<'_>,
        fresh: &Fresh,
    ) -> Result<bool, StoreError> {
        if self.unwritten + fresh.txns < self.run_txns {
            return Ok(false);
        }
        let mut run = tail_keys(tx, fresh.upto)?;
        run.sort_unstable();
        let upto = run.iter().map(|k| k.txn_id).fold(fresh.upto, i64::max);
        insert(tx, run.iter())?;
        tx.prepare_cached(SET_UPTO)
            .and_then(|mut s| s.execute((UPTO_KEY, upto.to_string())))
            .map_err(|e| error("set txn_keys_upto", e))?;
        Ok(true)
    }

    /// After the batch committed.
    pub(super) fn committed(&mut self, fresh: &Fresh, written: bool) {
        self.unwritten = if written {
            0
        } else {
            self.unwritten + fresh.txns
        };
    }
}

/// The keys of the transactions above `upto`.
fn tail_keys(conn: &Connection, upto: i64) -> Result<Vec<TxnKey>, StoreError> {
    let mut keys = Vec::new();
    each_txn_above(conn, upto, &mut keys, |_, _| Ok(()))?;
    Ok(keys)
}

/// Reads the transactions above `above` in id order, appends each one's keys to `keys`
/// and then calls `then` with its id (which may drain `keys`).
fn each_txn_above(
    conn: &Connection,
    above: i64,
    keys: &mut Vec<TxnKey>,
    mut then: impl FnMut(i64, &mut Vec<TxnKey>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let read = |e| error("read transactions' search keys", e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, card_token, terminal_id, merchant_id FROM txns WHERE id > ?1 \
             ORDER BY id",
        )
        .map_err(read)?;
    let mut rows = stmt.query([above]).map_err(read)?;
    while let Some(r) = rows.next().map_err(read)? {
        let id: i64 = r.get(0).map_err(read)?;
        let card = column(r, 1)?.as_str_or_null().map_err(|e| read(e.into()))?;
        let terminal = column(r, 2)?.as_str().map_err(|e| read(e.into()))?;
        let merchant = column(r, 3)?.as_str().map_err(|e| read(e.into()))?;
        keys_of(id, card, terminal, merchant, keys);
        then(id, keys)?;
    }
    Ok(())
}

fn column<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Result<ValueRef<'r>, StoreError> {
    r.get_ref(i)
        .map_err(|e| error("read transactions' search keys", e))
}

/// Transactions whose keys the V5 backfill sorts and writes at a time (about 50 MiB).
const BACKFILL_CHUNK_TXNS: usize = 1_000_000;

/// Migration V5: the keys of every transaction stored so far, written in sorted chunks,
/// and `upto` past them all.
pub(super) fn backfill(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let write = |chunk: &mut Vec<TxnKey>| {
        chunk.sort_unstable();
        let written = insert(tx, chunk.iter());
        chunk.clear();
        written
    };
    let (mut chunk, mut txns, mut upto) = (Vec::new(), 0, 0);
    each_txn_above(tx, i64::MIN, &mut chunk, |id, chunk| {
        (txns, upto) = (txns + 1, id);
        if txns % BACKFILL_CHUNK_TXNS == 0 {
            write(chunk)?;
        }
        Ok(())
    })?;
    write(&mut chunk)?;
    tx.execute(SET_UPTO, (UPTO_KEY, upto.to_string()))
        .map_err(|e| error("fill txn_keys", e))
        .map(drop)
}

fn read_upto_conn(conn: &Connection) -> Result<i64, StoreError> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut s| s.query_row([UPTO_KEY], |r| r.get(0)).optional())
        .map_err(|e| error("read txn_keys_upto", e))?;
    match value {
        Some(v) => parse_upto(&v),
        None => Err(StoreError::corrupt("txn_keys_upto is missing")),
    }
}

fn insert<'k>(
    tx: &Transaction<'_>,
    keys: impl Iterator<Item = &'k TxnKey>,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(INSERT_KEY)
        .map_err(|e| error("insert txn keys", e))?;
    for k in keys {
        stmt.execute((k.key, k.txn_id))
            .map_err(|e| error("insert txn keys", e))?;
    }
    Ok(())
}

fn parse_upto(v: &str) -> Result<i64, StoreError> {
    v.parse()
        .map_err(|_| StoreError::corrupt("txn_keys_upto is not a number"))
}

/// The key a search walks: the most selective filter that is set.
fn search_key(q: &TxnQuery) -> Option<i64> {
    if let Some(card) = &q.card_token {
        return Some(key_of(KeyKind::Card, card.as_str()));
    }
    if let Some(terminal) = &q.terminal_id {
        return Some(key_of(KeyKind::Terminal, terminal.as_str()));
    }
    q.merchant_id
        .as_ref()
        .map(|m| key_of(KeyKind::Merchant, m.as_str()))
}

/// A transaction search, inside one read snapshot. By card, terminal or merchant: the
/// written keys in id order up to `upto`, then the tail above it. Otherwise one query.
pub(super) fn search(db: &mut dyn Sql, q: &TxnQuery) -> Result<Vec<TxnRecord>, StoreError> {
    let Some(key) = search_key(q) else {
        let (sql, params) = crate::query::search_sql(q)?;
        return all(db, &sql, &params, rows::txn);
    };
    let limit = i64::from(q.limit.min(TXN_QUERY_LIMIT_MAX));
    if limit == 0 {
        return Ok(Vec::new());
    }
    let filter = txn_filter(q)?;
    let conds: String = filter.conds.iter().map(|c| format!(" AND {c}")).collect();
    let upto = read_upto(db)?;
    let after = q
        .after_id
        .map(|id| to_i64(id.0, "after_id"))
        .transpose()?
        .unwrap_or(-1);
    let mut found = Vec::new();
    if after < upto {
        let sql = keyed_sql(&conds);
        let mut params = vec![Param::Int(key), Param::Int(after), Param::Int(upto)];
        params.extend(filter.params.iter().cloned());
        params.push(Param::Int(limit));
        found = all(db, &sql, &params, rows::txn)?;
    }
    let left = limit - i64::try_from(found.len()).unwrap_or(limit);
    if left > 0 {
        let sql = tail_sql(&conds);
        let mut params = vec![Param::Int(upto)];
        params.extend(filter.params);
        params.push(Param::Int(left));
        found.extend(all(db, &sql, &params, rows::txn)?);
    }
    Ok(found)
}

/// Parameters: key, after (exclusive), upto (inclusive), `conds`'s, limit. The
/// join walks `txn_keys` in id order (CROSS JOIN keeps it outer), so it stops at the
/// limit without sorting.
fn keyed_sql(conds: &str) -> String {
    format!(
        "SELECT {TXN_COLS} FROM txn_keys CROSS JOIN txns ON txns.id = txn_keys.txn_id \
         WHERE key = ? AND txn_id > ? AND txn_id <= ?{conds} \
         ORDER BY txn_id LIMIT ?"
    )
}

/// Parameters: upto (exclusive), `conds`'s, limit. A rowid range: the unwritten tail.
fn tail_sql(conds: &str) -> String {
    format!("SELECT {TXN_COLS} FROM txns WHERE id > ?{conds} ORDER BY id LIMIT ?")
}

fn read_upto(db: &mut dyn Sql) -> Result<i64, StoreError> {
    let params = [Param::Text(UPTO_KEY.to_owned())];
    let value = all(db, "SELECT value FROM meta WHERE key = ?", &params, |r| {
        r.text(0)
    })?;
    match value.first() {
        Some(v) => parse_upto(v),
        None => Err(StoreError::corrupt("txn_keys_upto is missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` with `params`.
    fn plan(conn: &Connection, sql: &str, params: &[Param]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    }

    /// A keyed search walks `txn_keys` in id order (no sort, no scan: it stops at the
    /// limit) and looks each row up by id; the tail is a rowid range.
    #[test]
    fn keyed_searches_walk_the_key_table_and_the_tail_by_id() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::run(&mut conn).unwrap();
        let q = TxnQuery {
            card_token: Some(model::CardToken("ab12".repeat(16))),
            status: Some(model::TxnStatus::Approved),
            after_id: Some(model::TxnId(5)),
            ..TxnQuery::default()
        };
        let filter = txn_filter(&q).unwrap();
        let conds: String = filter.conds.iter().map(|c| format!(" AND {c}")).collect();
        let mut keyed = vec![Param::Int(7), Param::Int(5), Param::Int(9)];
        keyed.extend(filter.params.iter().cloned());
        keyed.push(Param::Int(100));
        let keyed_plan = plan(&conn, &keyed_sql(&conds), &keyed);
        assert!(
            keyed_plan
                .contains("SEARCH txn_keys USING PRIMARY KEY (key=? AND txn_id>? AND txn_id<?)"),
            "{keyed_plan}"
        );
        assert!(
            keyed_plan.contains("SEARCH txns USING INTEGER PRIMARY KEY (rowid=?)"),
            "{keyed_plan}"
        );
        assert!(!keyed_plan.contains("TEMP B-TREE"), "{keyed_plan}");
        let mut tail = vec![Param::Int(9)];
        tail.extend(filter.params);
        tail.push(Param::Int(100));
        let tail_plan = plan(&conn, &tail_sql(&conds), &tail);
        assert!(
            tail_plan.contains("SEARCH txns USING INTEGER PRIMARY KEY (rowid>?)"),
            "{tail_plan}"
        );
        assert!(!tail_plan.contains("TEMP B-TREE"), "{tail_plan}");
    }

    /// Keys are stored: the hash of a value must never change between builds.
    #[test]
    fn keys_are_pinned() {
        // FNV-1a 64 of the empty input is its offset basis; of b"a", a published value.
        assert_eq!(FNV_OFFSET, 0xcbf2_9ce4_8422_2325);
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(FNV_OFFSET, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
            })
        };
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            key_of(KeyKind::Terminal, "T0000001") as u64,
            fnv(b"\x02T0000001")
        );
        assert_eq!(
            key_of(KeyKind::Card, "ab") as u64,
            0xd113_9b18_6786_3f8f_u64
        );
        // The same text as another kind is another key.
        assert_ne!(key_of(KeyKind::Card, "M1"), key_of(KeyKind::Merchant, "M1"));
    }
}

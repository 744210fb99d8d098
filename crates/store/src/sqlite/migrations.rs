//! SQLite schema, as versioned steps. A step is never edited once released: a change
//! is a new step. `run` applies the missing ones in one immediate transaction, so two
//! processes opening the same file cannot both migrate.

use crate::error::{StoreError, StoreErrorKind};
use rusqlite::{Connection, TransactionBehavior};

const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

const V1: &str = "
CREATE TABLE merchants (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, mcc TEXT NOT NULL,
    currency INTEGER NOT NULL, fee_bps INTEGER NOT NULL
) STRICT;
CREATE TABLE terminals (
    id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, status TEXT NOT NULL,
    floor_limit_minor INTEGER NOT NULL
) STRICT;
CREATE INDEX terminals_merchant ON terminals (merchant_id, id);
CREATE TABLE cards (
    token TEXT PRIMARY KEY, masked TEXT NOT NULL, expiry TEXT NOT NULL,
    status TEXT NOT NULL, kind TEXT NOT NULL, currency INTEGER NOT NULL,
    limit_minor INTEGER NOT NULL, daily_limit_minor INTEGER NOT NULL
) STRICT;
CREATE TABLE txns (
    id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
    mti TEXT NOT NULL, kind TEXT NOT NULL, offline INTEGER NOT NULL,
    terminal_id TEXT NOT NULL, merchant_id TEXT NOT NULL, stan TEXT NOT NULL,
    transmitted TEXT NOT NULL, card_token TEXT, masked_pan TEXT,
    amount_minor INTEGER NOT NULL, currency INTEGER NOT NULL, response_code TEXT NOT NULL,
    auth_code TEXT, status TEXT NOT NULL, original_id INTEGER, original_key TEXT,
    fee_minor INTEGER NOT NULL, refunded_minor INTEGER NOT NULL, balance_minor INTEGER,
    stand_in INTEGER NOT NULL, upstream INTEGER NOT NULL, reason TEXT NOT NULL
) STRICT;
CREATE INDEX txns_merchant ON txns (merchant_id, id);
CREATE INDEX txns_terminal ON txns (terminal_id, id);
CREATE INDEX txns_card ON txns (card_token, id);
CREATE INDEX txns_created ON txns (created_ms);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY, txn_id INTEGER NOT NULL, kind TEXT NOT NULL,
    account TEXT NOT NULL, amount_minor INTEGER NOT NULL, currency INTEGER NOT NULL
) STRICT;
CREATE INDEX entries_txn ON entries (txn_id, id);
CREATE TABLE settlements (
    id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, terminal_id TEXT NOT NULL,
    closed_ms INTEGER NOT NULL, upto_txn_id INTEGER NOT NULL,
    host_debit_count INTEGER NOT NULL, host_debit_minor INTEGER NOT NULL,
    host_credit_count INTEGER NOT NULL, host_credit_minor INTEGER NOT NULL,
    terminal_debit_count INTEGER NOT NULL, terminal_debit_minor INTEGER NOT NULL,
    terminal_credit_count INTEGER NOT NULL, terminal_credit_minor INTEGER NOT NULL,
    balanced INTEGER NOT NULL
) STRICT;
CREATE INDEX settlements_terminal ON settlements (terminal_id, id);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY, sha256_hex TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

-- The ledger is append-only: a correction is a new entry, never an edit.
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER settlements_no_update BEFORE UPDATE ON settlements
BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER settlements_no_delete BEFORE DELETE ON settlements
BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
CREATE TRIGGER txns_no_delete BEFORE DELETE ON txns
BEGIN SELECT RAISE(ABORT, 'txns are never deleted'); END;
";

pub(super) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let fail = |what: &str, e: rusqlite::Error| {
        StoreError::new(StoreErrorKind::Migration, format!("{what}: {e}"))
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail("begin migration", e))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL) STRICT;",
    )
    .map_err(|e| fail("create schema_migrations", e))?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(|e| fail("read schema version", e))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::new(
            StoreErrorKind::Migration,
            format!("database schema v{current} is newer than this build (v{known})"),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)
            .map_err(|e| fail(&format!("apply v{version}"), e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            (version, crate::now_ms()),
        )
        .map_err(|e| fail("record version", e))?;
    }
    tx.commit().map_err(|e| fail("commit migration", e))
}

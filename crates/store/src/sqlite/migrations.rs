//! SQLite schema, as versioned steps. A step is never edited once released: a change
//! is a new step. `run` applies the missing ones in one immediate transaction, so two
//! processes opening the same file cannot both migrate.

use crate::error::{StoreError, StoreErrorKind};
use rusqlite::{Connection, TransactionBehavior};

const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

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

/// Risk control (issue 4): decisions, alerts, cases and their events, fraud labels.
/// Rule lists are JSON text (read back whole, never queried by SQL).
const V2: &str = "
CREATE TABLE risk_decisions (
    txn_id INTEGER PRIMARY KEY, score INTEGER NOT NULL, action TEXT NOT NULL,
    response_code TEXT, reasons TEXT NOT NULL, shadow_hits TEXT NOT NULL,
    errors TEXT NOT NULL, tags TEXT NOT NULL, rule_set_version INTEGER NOT NULL,
    engine_failed INTEGER NOT NULL, decided_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY, created_ms INTEGER NOT NULL, txn_id INTEGER NOT NULL,
    severity TEXT NOT NULL, score INTEGER NOT NULL, action TEXT NOT NULL,
    rules TEXT NOT NULL, card_token TEXT, terminal_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL, case_id INTEGER NOT NULL
) STRICT;
CREATE INDEX alerts_case ON alerts (case_id, id);
CREATE INDEX alerts_created ON alerts (created_ms);
CREATE INDEX alerts_terminal ON alerts (terminal_id, id);
CREATE INDEX alerts_card ON alerts (card_token, id);
CREATE INDEX alerts_merchant ON alerts (merchant_id, id);
CREATE TABLE cases (
    id INTEGER PRIMARY KEY, entity_kind TEXT NOT NULL, entity_id TEXT NOT NULL,
    status TEXT NOT NULL, severity TEXT NOT NULL, assignee TEXT, outcome TEXT,
    alert_count INTEGER NOT NULL, opened_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX cases_status ON cases (status, id);
CREATE INDEX cases_entity ON cases (entity_kind, entity_id, id);
CREATE TABLE case_events (
    id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL, at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL
) STRICT;
CREATE INDEX case_events_case ON case_events (case_id, id);
-- Labels have no id of their own: the rowid keeps insertion order (the newest counts).
CREATE TABLE fraud_labels (
    id INTEGER PRIMARY KEY, txn_id INTEGER NOT NULL, fraud INTEGER NOT NULL,
    at_ms INTEGER NOT NULL, source TEXT NOT NULL
) STRICT;
CREATE INDEX fraud_labels_txn ON fraud_labels (txn_id, id);

-- What risk control decided and what officers did is evidence: never edited.
CREATE TRIGGER risk_decisions_no_update BEFORE UPDATE ON risk_decisions
BEGIN SELECT RAISE(ABORT, 'risk decisions are append-only'); END;
CREATE TRIGGER risk_decisions_no_delete BEFORE DELETE ON risk_decisions
BEGIN SELECT RAISE(ABORT, 'risk decisions are append-only'); END;
CREATE TRIGGER alerts_no_update BEFORE UPDATE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are append-only'); END;
CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are append-only'); END;
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN SELECT RAISE(ABORT, 'case events are append-only'); END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN SELECT RAISE(ABORT, 'case events are append-only'); END;
CREATE TRIGGER fraud_labels_no_update BEFORE UPDATE ON fraud_labels
BEGIN SELECT RAISE(ABORT, 'fraud labels are append-only'); END;
CREATE TRIGGER fraud_labels_no_delete BEFORE DELETE ON fraud_labels
BEGIN SELECT RAISE(ABORT, 'fraud labels are append-only'); END;
-- A case's state moves (upsert), but the case itself stays, like a transaction.
CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
BEGIN SELECT RAISE(ABORT, 'cases are never deleted'); END;
";

/// Transactions' contexts (entry mode, position, operator) for risk features that must
/// survive a restart. Location is both coordinates or neither.
const V3: &str = "
CREATE TABLE txn_contexts (
    txn_id INTEGER PRIMARY KEY, entry_mode TEXT, lat_e6 INTEGER, lon_e6 INTEGER,
    operator TEXT,
    CHECK ((lat_e6 IS NULL) = (lon_e6 IS NULL))
) STRICT;
CREATE TRIGGER txn_contexts_no_update BEFORE UPDATE ON txn_contexts
BEGIN SELECT RAISE(ABORT, 'txn contexts are append-only'); END;
CREATE TRIGGER txn_contexts_no_delete BEFORE DELETE ON txn_contexts
BEGIN SELECT RAISE(ABORT, 'txn contexts are append-only'); END;
";

/// The card index keyed by the first 16 characters of the token instead of all of it.
/// Tokens are random (64 hex characters from the host's keyed hash), so the prefix is as
/// selective, and the index is a third of the size: it stays in the writer's cache, and
/// each purchase's random insert into it costs less (apply bench, 1.5M txns: 32.1/33.6
/// -> 27.7/30.6 CPU us per purchase). A card search matches the prefix to use it and
/// the whole token to stay exact (`query::search_sql`).
const V4: &str = "
DROP INDEX IF EXISTS txns_card;
CREATE INDEX IF NOT EXISTS txns_card_prefix ON txns (substr(card_token, 1, 16), id);
";

/// The search keys (card token, terminal, merchant) move out of three indexes on `txns`
/// into one table of hashed keys that the writer fills in sorted runs (`sqlite::keys`).
/// The keys of the transactions already stored are filled in by `backfill_keys`.
const V5: &str = "
CREATE TABLE IF NOT EXISTS txn_keys (
    key INTEGER NOT NULL, txn_id INTEGER NOT NULL, PRIMARY KEY (key, txn_id)
) STRICT, WITHOUT ROWID;
DROP INDEX IF EXISTS txns_card_prefix;
DROP INDEX IF EXISTS txns_terminal;
DROP INDEX IF EXISTS txns_merchant;
";

pub(super) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    apply(conn, MIGRATIONS)
}

/// Brings the schema up to the last of `steps` (all of them but in tests).
fn apply(conn: &mut Connection, steps: &[(i64, &str)]) -> Result<(), StoreError> {
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
    let known = steps.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::new(
            StoreErrorKind::Migration,
            format!("database schema v{current} is newer than this build (v{known})"),
        ));
    }
    for (version, sql) in steps.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)
            .map_err(|e| fail(&format!("apply v{version}"), e))?;
        if *version == 5 {
            super::keys::backfill(&tx)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            (version, crate::now_ms()),
        )
        .map_err(|e| fail("record version", e))?;
    }
    tx.commit().map_err(|e| fail("commit migration", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = stmt.query_map([], |r| r.get(0)).unwrap();
        names.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_v1_database_migrates_in_place() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &MIGRATIONS[..1]).unwrap();
        conn.execute_batch(
            "INSERT INTO merchants VALUES ('M1', 'shop', '5411', 156, 60);
             INSERT INTO entries VALUES (1, 1, 'capture', 'fees', 6, 156);",
        )
        .unwrap();
        assert!(!tables(&conn).contains(&"alerts".to_owned()));
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        let want = [
            "alerts",
            "case_events",
            "cases",
            "fraud_labels",
            "risk_decisions",
            "txn_contexts",
        ];
        let have = tables(&conn);
        assert!(
            want.iter().all(|t| have.contains(&(*t).to_owned())),
            "{have:?}"
        );
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM merchants"), 1);
        let last = MIGRATIONS.last().map_or(0, |m| m.0);
        assert_eq!(count("SELECT MAX(version) FROM schema_migrations"), last);
        assert_eq!(count("SELECT COUNT(*) FROM schema_migrations"), last);
        let err = conn
            .execute_batch("DELETE FROM entries")
            .expect_err("V1's triggers stay");
        assert!(err.to_string().contains("append-only"), "{err}");
    }

    /// V5 moves the search keys of the transactions already stored into `txn_keys`
    /// and marks them all written.
    #[test]
    fn a_v4_database_gains_its_search_keys() {
        use super::super::keys::{KeyKind, key_of};
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &MIGRATIONS[..4]).unwrap();
        for (id, card) in [(1, Some("0123456789abcdef0123")), (2, None), (3, Some("x"))] {
            conn.execute(
                "INSERT INTO txns (id, idem_key, created_ms, mti, kind, offline, terminal_id, \
                 merchant_id, stan, transmitted, card_token, amount_minor, currency, \
                 response_code, status, fee_minor, refunded_minor, stand_in, upstream, \
                 reason) VALUES (?1, 'k' || ?1, 0, '0200', 'purchase', 0, 'T1', 'M1', \
                 '000001', '0101120000', ?2, 100, 156, '00', 'approved', 0, 0, 0, 0, '')",
                (id, card),
            )
            .unwrap();
        }
        run(&mut conn).unwrap();
        let keys: Vec<(i64, i64)> = conn
            .prepare("SELECT key, txn_id FROM txn_keys")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut want = vec![
            (key_of(KeyKind::Card, "0123456789abcdef0123"), 1),
            (key_of(KeyKind::Card, "x"), 3),
        ];
        for id in 1..=3 {
            want.push((key_of(KeyKind::Terminal, "T1"), id));
            want.push((key_of(KeyKind::Merchant, "M1"), id));
        }
        want.sort_unstable();
        assert_eq!(keys, want);
        let upto: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'txn_keys_upto'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(upto, "3");
    }
}

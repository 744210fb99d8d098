//! PostgreSQL schema, as versioned steps (never edited once released). `run` applies
//! the missing ones in one transaction under an advisory lock, so concurrent opens
//! (several hosts, parallel tests) migrate once.

use crate::error::{StoreError, StoreErrorKind};
use ::postgres::Client;

/// Arbitrary, fixed key of the advisory lock that serializes migrations.
const MIGRATION_LOCK_KEY: i64 = 0x706f_7367_7561_7264; // "posguard"

const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3)];

const V1: &str = "
CREATE TABLE merchants (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, mcc TEXT NOT NULL,
    currency INTEGER NOT NULL, fee_bps BIGINT NOT NULL
);
CREATE TABLE terminals (
    id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, status TEXT NOT NULL,
    floor_limit_minor BIGINT NOT NULL
);
CREATE INDEX terminals_merchant ON terminals (merchant_id, id);
CREATE TABLE cards (
    token TEXT PRIMARY KEY, masked TEXT NOT NULL, expiry TEXT NOT NULL,
    status TEXT NOT NULL, kind TEXT NOT NULL, currency INTEGER NOT NULL,
    limit_minor BIGINT NOT NULL, daily_limit_minor BIGINT NOT NULL
);
CREATE TABLE txns (
    id BIGINT PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, created_ms BIGINT NOT NULL,
    mti TEXT NOT NULL, kind TEXT NOT NULL, offline BOOLEAN NOT NULL,
    terminal_id TEXT NOT NULL, merchant_id TEXT NOT NULL, stan TEXT NOT NULL,
    transmitted TEXT NOT NULL, card_token TEXT, masked_pan TEXT,
    amount_minor BIGINT NOT NULL, currency INTEGER NOT NULL, response_code TEXT NOT NULL,
    auth_code TEXT, status TEXT NOT NULL, original_id BIGINT, original_key TEXT,
    fee_minor BIGINT NOT NULL, refunded_minor BIGINT NOT NULL, balance_minor BIGINT,
    stand_in BOOLEAN NOT NULL, upstream BOOLEAN NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX txns_merchant ON txns (merchant_id, id);
CREATE INDEX txns_terminal ON txns (terminal_id, id);
CREATE INDEX txns_card ON txns (card_token, id);
CREATE INDEX txns_created ON txns (created_ms);
CREATE TABLE entries (
    id BIGINT PRIMARY KEY, txn_id BIGINT NOT NULL, kind TEXT NOT NULL,
    account TEXT NOT NULL, amount_minor BIGINT NOT NULL, currency INTEGER NOT NULL
);
CREATE INDEX entries_txn ON entries (txn_id, id);
CREATE TABLE settlements (
    id BIGINT PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, terminal_id TEXT NOT NULL,
    closed_ms BIGINT NOT NULL, upto_txn_id BIGINT NOT NULL,
    host_debit_count BIGINT NOT NULL, host_debit_minor BIGINT NOT NULL,
    host_credit_count BIGINT NOT NULL, host_credit_minor BIGINT NOT NULL,
    terminal_debit_count BIGINT NOT NULL, terminal_debit_minor BIGINT NOT NULL,
    terminal_credit_count BIGINT NOT NULL, terminal_credit_minor BIGINT NOT NULL,
    balanced BOOLEAN NOT NULL
);
CREATE INDEX settlements_terminal ON settlements (terminal_id, id);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY, sha256_hex TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- The ledger is append-only: a correction is a new entry, never an edit.
CREATE FUNCTION posguard_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: rows are never changed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER settlements_append_only BEFORE UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER settlements_no_truncate BEFORE TRUNCATE ON settlements
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER txns_no_delete BEFORE DELETE ON txns
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER txns_no_truncate BEFORE TRUNCATE ON txns
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
";

/// Risk control (issue 4): decisions, alerts, cases and their events, fraud labels.
/// Rule lists are JSON text, stored and read back as the SQLite backend does.
const V2: &str = "
CREATE TABLE risk_decisions (
    txn_id BIGINT PRIMARY KEY, score INTEGER NOT NULL, action TEXT NOT NULL,
    response_code TEXT, reasons TEXT NOT NULL, shadow_hits TEXT NOT NULL,
    errors TEXT NOT NULL, tags TEXT NOT NULL, rule_set_version BIGINT NOT NULL,
    engine_failed BOOLEAN NOT NULL, decided_ms BIGINT NOT NULL
);
CREATE TABLE alerts (
    id BIGINT PRIMARY KEY, created_ms BIGINT NOT NULL, txn_id BIGINT NOT NULL,
    severity TEXT NOT NULL, score INTEGER NOT NULL, action TEXT NOT NULL,
    rules TEXT NOT NULL, card_token TEXT, terminal_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL, case_id BIGINT NOT NULL
);
CREATE INDEX alerts_case ON alerts (case_id, id);
CREATE INDEX alerts_created ON alerts (created_ms);
CREATE INDEX alerts_terminal ON alerts (terminal_id, id);
CREATE INDEX alerts_card ON alerts (card_token, id);
CREATE INDEX alerts_merchant ON alerts (merchant_id, id);
CREATE TABLE cases (
    id BIGINT PRIMARY KEY, entity_kind TEXT NOT NULL, entity_id TEXT NOT NULL,
    status TEXT NOT NULL, severity TEXT NOT NULL, assignee TEXT, outcome TEXT,
    alert_count BIGINT NOT NULL, opened_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL
);
CREATE INDEX cases_status ON cases (status, id);
CREATE INDEX cases_entity ON cases (entity_kind, entity_id, id);
CREATE TABLE case_events (
    id BIGINT PRIMARY KEY, case_id BIGINT NOT NULL, at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, id);
-- Labels have no id of their own: the identity keeps insertion order (the newest counts).
CREATE TABLE fraud_labels (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, txn_id BIGINT NOT NULL,
    fraud BOOLEAN NOT NULL, at_ms BIGINT NOT NULL, source TEXT NOT NULL
);
CREATE INDEX fraud_labels_txn ON fraud_labels (txn_id, id);

-- What risk control decided and what officers did is evidence: never edited.
-- (posguard_refuse_change is V1's.)
CREATE TRIGGER risk_decisions_append_only BEFORE UPDATE OR DELETE ON risk_decisions
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER risk_decisions_no_truncate BEFORE TRUNCATE ON risk_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER alerts_append_only BEFORE UPDATE OR DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER alerts_no_truncate BEFORE TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER fraud_labels_append_only BEFORE UPDATE OR DELETE ON fraud_labels
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER fraud_labels_no_truncate BEFORE TRUNCATE ON fraud_labels
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
-- A case's state moves (upsert), but the case itself stays, like a transaction.
CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER cases_no_truncate BEFORE TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
";

/// Transactions' contexts (entry mode, position, operator) for risk features that must
/// survive a restart. Location is both coordinates or neither.
const V3: &str = "
CREATE TABLE txn_contexts (
    txn_id BIGINT PRIMARY KEY, entry_mode TEXT, lat_e6 INTEGER, lon_e6 INTEGER,
    operator TEXT,
    CHECK ((lat_e6 IS NULL) = (lon_e6 IS NULL))
);
CREATE TRIGGER txn_contexts_append_only BEFORE UPDATE OR DELETE ON txn_contexts
    FOR EACH ROW EXECUTE FUNCTION posguard_refuse_change();
CREATE TRIGGER txn_contexts_no_truncate BEFORE TRUNCATE ON txn_contexts
    FOR EACH STATEMENT EXECUTE FUNCTION posguard_refuse_change();
";

/// Creates `schema` if given, then applies the missing steps.
pub(super) fn run(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    let fail = |what: &str, e: ::postgres::Error| {
        let e = super::rows::error(what, e);
        StoreError::new(StoreErrorKind::Migration, e.context)
    };
    let mut tx = client
        .transaction()
        .map_err(|e| fail("begin migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .map_err(|e| fail("lock migrations", e))?;
    if let Some(s) = schema {
        // `s` is checked to be [a-z_][a-z0-9_]* by the URL parser.
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}"
        ))
        .map_err(|e| fail("create schema", e))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .map_err(|e| fail("create schema_migrations", e))?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map_err(|e| fail("read schema version", e))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::new(
            StoreErrorKind::Migration,
            format!("database schema v{current} is newer than this build (v{known})"),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .map_err(|e| fail(&format!("apply v{version}"), e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
            &[version, &crate::now_ms()],
        )
        .map_err(|e| fail("record version", e))?;
    }
    tx.commit().map_err(|e| fail("commit migration", e))
}

//! The read side of `Store`, written once over a minimal SQL interface (`Sql`) that
//! both backends implement. The SQL here is the common subset of SQLite and
//! PostgreSQL, with `?` placeholders.

use crate::error::StoreError;
use crate::query::{AlertQuery, CaseQuery, Param, TxnQuery, alerts_sql, cases_sql, search_sql};
use crate::risk;
use crate::rows::{self, Cols, to_i64};
use crate::{STREAM_PAGE_ROWS, Store};
use model::{
    Alert, ApiToken, Card, CardToken, Case, CaseEvent, Entry, FraudLabel, Merchant, MerchantId,
    RiskDecision, Settlement, Snapshot, Terminal, TerminalId, TxnId, TxnRecord, Write,
};

pub(crate) type RowFn<'a> = dyn FnMut(&dyn Cols) -> Result<(), StoreError> + 'a;

/// Runs one query and hands each row to `each`, in the order the database returns them.
pub(crate) trait Sql {
    fn each_row(
        &mut self,
        sql: &str,
        params: &[Param],
        each: &mut RowFn<'_>,
    ) -> Result<(), StoreError>;
}

/// One database behind `Store`: how to get a reader and how to write.
pub(crate) trait Backend: Send + Sync + 'static {
    const NAME: &'static str;
    /// Runs `f` on a reader; with `snapshot`, inside one read-only transaction so that
    /// all of `f`'s queries see the same committed state.
    fn read<T>(
        &self,
        snapshot: bool,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
    fn commit(&self, batch: &[Write]) -> Result<(), StoreError>;
    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// A transaction search; one query unless the backend keeps its own search index.
    fn search_txns(&self, q: &TxnQuery) -> Result<Vec<TxnRecord>, StoreError> {
        let (sql, params) = search_sql(q)?;
        self.read(false, |db| all(db, &sql, &params, rows::txn))
    }
}

type Decode<T> = fn(&dyn Cols) -> Result<T, StoreError>;

pub(crate) fn all<T>(
    db: &mut dyn Sql,
    sql: &str,
    params: &[Param],
    decode: Decode<T>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    db.each_row(sql, params, &mut |r| {
        out.push(decode(r)?);
        Ok(())
    })?;
    Ok(out)
}

fn one<T>(
    db: &mut dyn Sql,
    sql: &str,
    params: &[Param],
    decode: Decode<T>,
) -> Result<Option<T>, StoreError> {
    Ok(all(db, sql, params, decode)?.into_iter().next())
}

fn text(v: &str) -> Param {
    Param::Text(v.to_owned())
}

fn load(db: &mut dyn Sql) -> Result<Snapshot, StoreError> {
    use rows::*;
    let max_id = |db: &mut dyn Sql, table: &str| -> Result<u64, StoreError> {
        let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
        let max = one(db, &sql, &[], count)?.unwrap_or(0);
        u64::try_from(max).map_err(|_| StoreError::corrupt(format!("negative id in {table}")))
    };
    Ok(Snapshot {
        merchants: all(
            db,
            &format!("SELECT {MERCHANT_COLS} FROM merchants ORDER BY id"),
            &[],
            merchant,
        )?,
        terminals: all(
            db,
            &format!("SELECT {TERMINAL_COLS} FROM terminals ORDER BY id"),
            &[],
            terminal,
        )?,
        cards: all(
            db,
            &format!("SELECT {CARD_COLS} FROM cards ORDER BY token"),
            &[],
            card,
        )?,
        txns: all(
            db,
            &format!("SELECT {TXN_COLS} FROM txns ORDER BY id"),
            &[],
            txn,
        )?,
        // The cast keeps PostgreSQL's SUM(bigint) (a numeric) a bigint; it fails
        // rather than wraps if a balance ever left the i64 range.
        balances: all(
            db,
            "SELECT account, currency, CAST(SUM(amount_minor) AS BIGINT) FROM entries \
             GROUP BY account, currency ORDER BY account, currency",
            &[],
            balance,
        )?,
        // Settlement ids grow with time, so the newest of a terminal is its largest id.
        settlements: all(
            db,
            &format!(
                "SELECT {SETTLEMENT_COLS} FROM settlements WHERE id IN \
                 (SELECT MAX(id) FROM settlements GROUP BY terminal_id) ORDER BY terminal_id"
            ),
            &[],
            settlement,
        )?,
        last_entry_id: max_id(db, "entries")?,
        last_settlement_id: max_id(db, "settlements")?,
        last_alert_id: max_id(db, "alerts")?,
        last_case_id: max_id(db, "cases")?,
        last_case_event_id: max_id(db, "case_events")?,
        open_cases: all(
            db,
            &format!(
                "SELECT {} FROM cases WHERE status <> ? ORDER BY id",
                risk::CASE_COLS
            ),
            &[Param::Text(risk::CASE_STATUS_CLOSED.into())],
            risk::case,
        )?,
        labels: all(
            db,
            &format!("SELECT {} FROM fraud_labels ORDER BY id", risk::LABEL_COLS),
            &[],
            risk::label,
        )?,
        txn_contexts: all(
            db,
            &format!(
                "SELECT {} FROM txn_contexts ORDER BY txn_id",
                risk::CONTEXT_COLS
            ),
            &[],
            risk::context,
        )?,
    })
}

/// Reads `table` in id order one page at a time, so neither memory nor a reader
/// connection is held for the whole table while `f` runs.
fn for_each<B: Backend, T>(
    b: &B,
    sql_cols: &str,
    table: &str,
    decode: Decode<T>,
    id_of: fn(&T) -> u64,
    f: &mut dyn FnMut(T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sql = format!("SELECT {sql_cols} FROM {table} WHERE id > ? ORDER BY id LIMIT ?");
    let mut after = -1i64;
    loop {
        let params = [Param::Int(after), Param::Int(STREAM_PAGE_ROWS)];
        let page = b.read(false, |db| all(db, &sql, &params, decode))?;
        let full = page.len() as i64 == STREAM_PAGE_ROWS;
        for item in page {
            after = to_i64(id_of(&item), "id")?;
            f(item)?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// What `open` hands out: any backend, behind the `Store` trait.
pub(crate) struct Db<B>(pub(crate) B);

impl<B: Backend> Store for Db<B> {
    fn commit(&self, batch: &[Write]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.0.commit(batch)
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        self.0.read(true, load)
    }

    fn txn(&self, id: TxnId) -> Result<Option<TxnRecord>, StoreError> {
        let Ok(id) = to_i64(id.0, "txn id") else {
            return Ok(None);
        };
        let sql = format!("SELECT {} FROM txns WHERE id = ?", rows::TXN_COLS);
        self.0
            .read(false, |db| one(db, &sql, &[Param::Int(id)], rows::txn))
    }

    fn search_txns(&self, q: &TxnQuery) -> Result<Vec<TxnRecord>, StoreError> {
        self.0.search_txns(q)
    }

    fn entries_of(&self, id: TxnId) -> Result<Vec<Entry>, StoreError> {
        let Ok(id) = to_i64(id.0, "txn id") else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {} FROM entries WHERE txn_id = ? ORDER BY id",
            rows::ENTRY_COLS
        );
        self.0
            .read(false, |db| all(db, &sql, &[Param::Int(id)], rows::entry))
    }

    fn for_each_entry(
        &self,
        f: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for_each(
            &self.0,
            rows::ENTRY_COLS,
            "entries",
            rows::entry,
            |e| e.id,
            f,
        )
    }

    fn for_each_txn(
        &self,
        f: &mut dyn FnMut(TxnRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for_each(&self.0, rows::TXN_COLS, "txns", rows::txn, |t| t.id.0, f)
    }

    fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>, StoreError> {
        let sql = format!("SELECT {} FROM merchants WHERE id = ?", rows::MERCHANT_COLS);
        self.0.read(false, |db| {
            one(db, &sql, &[text(id.as_str())], rows::merchant)
        })
    }

    fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        let sql = format!("SELECT {} FROM merchants ORDER BY id", rows::MERCHANT_COLS);
        self.0.read(false, |db| all(db, &sql, &[], rows::merchant))
    }

    fn terminal(&self, id: &TerminalId) -> Result<Option<Terminal>, StoreError> {
        let sql = format!("SELECT {} FROM terminals WHERE id = ?", rows::TERMINAL_COLS);
        self.0.read(false, |db| {
            one(db, &sql, &[text(id.as_str())], rows::terminal)
        })
    }

    fn terminals(&self, merchant: Option<&MerchantId>) -> Result<Vec<Terminal>, StoreError> {
        let cols = rows::TERMINAL_COLS;
        let (sql, params) = match merchant {
            Some(m) => (
                format!("SELECT {cols} FROM terminals WHERE merchant_id = ? ORDER BY id"),
                vec![text(m.as_str())],
            ),
            None => (
                format!("SELECT {cols} FROM terminals ORDER BY id"),
                Vec::new(),
            ),
        };
        self.0
            .read(false, |db| all(db, &sql, &params, rows::terminal))
    }

    fn card(&self, token: &CardToken) -> Result<Option<Card>, StoreError> {
        let sql = format!("SELECT {} FROM cards WHERE token = ?", rows::CARD_COLS);
        self.0.read(false, |db| {
            one(db, &sql, &[text(token.as_str())], rows::card)
        })
    }

    fn cards(&self) -> Result<Vec<Card>, StoreError> {
        let sql = format!("SELECT {} FROM cards ORDER BY token", rows::CARD_COLS);
        self.0.read(false, |db| all(db, &sql, &[], rows::card))
    }

    fn settlements(&self, terminal: &TerminalId) -> Result<Vec<Settlement>, StoreError> {
        let sql = format!(
            "SELECT {} FROM settlements WHERE terminal_id = ? ORDER BY id",
            rows::SETTLEMENT_COLS
        );
        self.0.read(false, |db| {
            all(db, &sql, &[text(terminal.as_str())], rows::settlement)
        })
    }

    fn api_token_by_hash(&self, sha256_hex: &str) -> Result<Option<ApiToken>, StoreError> {
        let sql = format!(
            "SELECT {} FROM api_tokens WHERE sha256_hex = ?",
            rows::API_TOKEN_COLS
        );
        self.0.read(false, |db| {
            one(db, &sql, &[text(sha256_hex)], rows::api_token)
        })
    }

    fn api_token_count(&self) -> Result<u64, StoreError> {
        let n = self.0.read(false, |db| {
            one(db, "SELECT COUNT(*) FROM api_tokens", &[], rows::count)
        })?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    fn risk_decision(&self, txn: TxnId) -> Result<Option<RiskDecision>, StoreError> {
        let Ok(id) = to_i64(txn.0, "txn id") else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {} FROM risk_decisions WHERE txn_id = ?",
            risk::DECISION_COLS
        );
        self.0
            .read(false, |db| one(db, &sql, &[Param::Int(id)], risk::decision))
    }

    fn alerts(&self, q: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
        let (sql, params) = alerts_sql(q)?;
        self.0.read(false, |db| all(db, &sql, &params, risk::alert))
    }

    fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        let Ok(id) = to_i64(id, "alert id") else {
            return Ok(None);
        };
        let sql = format!("SELECT {} FROM alerts WHERE id = ?", risk::ALERT_COLS);
        self.0
            .read(false, |db| one(db, &sql, &[Param::Int(id)], risk::alert))
    }

    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>, StoreError> {
        let (sql, params) = cases_sql(q)?;
        self.0.read(false, |db| all(db, &sql, &params, risk::case))
    }

    fn case(&self, id: u64) -> Result<Option<Case>, StoreError> {
        let Ok(id) = to_i64(id, "case id") else {
            return Ok(None);
        };
        let sql = format!("SELECT {} FROM cases WHERE id = ?", risk::CASE_COLS);
        self.0
            .read(false, |db| one(db, &sql, &[Param::Int(id)], risk::case))
    }

    fn case_events(&self, case_id: u64) -> Result<Vec<CaseEvent>, StoreError> {
        let Ok(id) = to_i64(case_id, "case id") else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {} FROM case_events WHERE case_id = ? ORDER BY id",
            risk::CASE_EVENT_COLS
        );
        self.0.read(false, |db| {
            all(db, &sql, &[Param::Int(id)], risk::case_event)
        })
    }

    fn labels_of(&self, txn: TxnId) -> Result<Vec<FraudLabel>, StoreError> {
        let Ok(id) = to_i64(txn.0, "txn id") else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {} FROM fraud_labels WHERE txn_id = ? ORDER BY id",
            risk::LABEL_COLS
        );
        self.0
            .read(false, |db| all(db, &sql, &[Param::Int(id)], risk::label))
    }

    fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.read(false, |db| {
            one(
                db,
                "SELECT value FROM meta WHERE key = ?",
                &[text(key)],
                rows::text,
            )
        })
    }

    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let escaped: String = prefix
            .chars()
            .flat_map(|c| match c {
                '!' | '%' | '_' => vec!['!', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("{escaped}%");
        self.0.read(false, |db| {
            all(
                db,
                "SELECT key, value FROM meta WHERE key LIKE ? ESCAPE '!' ORDER BY key",
                &[text(&pattern)],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )
        })
    }

    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.0.meta_set(key, value)
    }

    fn backend(&self) -> &'static str {
        B::NAME
    }
}

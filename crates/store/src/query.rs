use crate::error::StoreError;
use crate::risk::{ALERT_COLS, CASE_COLS};
use crate::rows::{TXN_COLS, to_i64};
use model::{
    CardToken, MerchantId, ResponseCode, TerminalId, TimestampMs, TxnId, TxnKind, TxnStatus,
};

/// Most transactions one search returns; a caller pages on with `after_id`.
pub const TXN_QUERY_LIMIT_MAX: u32 = 1000;
/// What `TxnQuery::default()` asks for.
pub const TXN_QUERY_LIMIT_DEFAULT: u32 = 100;

/// A transaction search. Every filter that is set must match (AND). Results come in
/// ascending id order; to read the next page pass the last id seen as `after_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnQuery {
    pub merchant_id: Option<MerchantId>,
    pub terminal_id: Option<TerminalId>,
    pub card_token: Option<CardToken>,
    /// Inclusive lower bound on `created_ms`.
    pub from_ms: Option<TimestampMs>,
    /// Exclusive upper bound on `created_ms`.
    pub to_ms: Option<TimestampMs>,
    pub status: Option<TxnStatus>,
    pub response_code: Option<ResponseCode>,
    pub kind: Option<TxnKind>,
    /// Only ids strictly greater than this (the cursor).
    pub after_id: Option<TxnId>,
    /// Clamped to `TXN_QUERY_LIMIT_MAX`; 0 returns nothing.
    pub limit: u32,
}

impl Default for TxnQuery {
    fn default() -> TxnQuery {
        TxnQuery {
            merchant_id: None,
            terminal_id: None,
            card_token: None,
            from_ms: None,
            to_ms: None,
            status: None,
            response_code: None,
            kind: None,
            after_id: None,
            limit: TXN_QUERY_LIMIT_DEFAULT,
        }
    }
}

/// A bound parameter of generated SQL, independent of the backend's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// The conditions of a search whose filters are set, with their parameters in order.
#[derive(Default)]
pub(crate) struct Filter {
    pub(crate) conds: Vec<&'static str>,
    pub(crate) params: Vec<Param>,
}

impl Filter {
    fn text(&mut self, cond: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.conds.push(cond);
            self.params.push(Param::Text(v.to_owned()));
        }
    }

    fn int(&mut self, cond: &'static str, v: Option<i64>) {
        if let Some(v) = v {
            self.conds.push(cond);
            self.params.push(Param::Int(v));
        }
    }

    /// An id filter or cursor; ids above `i64::MAX` cannot be stored, so cannot be asked for.
    fn id(&mut self, cond: &'static str, v: Option<u64>, what: &str) -> Result<(), StoreError> {
        let v = v.map(|id| to_i64(id, what)).transpose()?;
        self.int(cond, v);
        Ok(())
    }

    /// `SELECT cols FROM table WHERE ... ORDER BY id LIMIT ?`, the limit clamped to `max`.
    fn select(mut self, cols: &str, table: &str, limit: u32, max: u32) -> (String, Vec<Param>) {
        let filter = if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        };
        self.params.push(Param::Int(i64::from(limit.min(max))));
        (
            format!("SELECT {cols} FROM {table}{filter} ORDER BY id LIMIT ?"),
            self.params,
        )
    }
}

/// The search as SQL with `?` placeholders (the PostgreSQL backend renumbers them).
pub(crate) fn search_sql(q: &TxnQuery) -> Result<(String, Vec<Param>), StoreError> {
    Ok(txn_filter(q)?.select(TXN_COLS, "txns", q.limit, TXN_QUERY_LIMIT_MAX))
}

/// Every condition of a transaction search on the columns of `txns`, with its parameters.
pub(crate) fn txn_filter(q: &TxnQuery) -> Result<Filter, StoreError> {
    let mut f = Filter::default();
    f.text(
        "merchant_id = ?",
        q.merchant_id.as_ref().map(|m| m.as_str()),
    );
    f.text(
        "terminal_id = ?",
        q.terminal_id.as_ref().map(|t| t.as_str()),
    );
    // SQLite serves card, terminal and merchant from its own key table (`sqlite::keys`)
    // and filters with these; PostgreSQL from its indexes on (column, id).
    f.text("card_token = ?", q.card_token.as_ref().map(|c| c.as_str()));
    f.text("status = ?", q.status.map(TxnStatus::as_str));
    f.text("response_code = ?", q.response_code.map(ResponseCode::iso));
    f.text("kind = ?", q.kind.map(TxnKind::as_str));
    f.int("created_ms >= ?", q.from_ms);
    f.int("created_ms < ?", q.to_ms);
    f.id("id > ?", q.after_id.map(|id| id.0), "after_id")?;
    Ok(f)
}

/// Most alerts one search returns; a caller pages on with `after_id`.
pub const ALERT_QUERY_LIMIT_MAX: u32 = 1000;
/// What `AlertQuery::default()` asks for.
pub const ALERT_QUERY_LIMIT_DEFAULT: u32 = 100;

/// An alert search. Every filter that is set must match (AND). Results come in
/// ascending id order; to read the next page pass the last id seen as `after_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertQuery {
    /// The case the alerts were grouped into.
    pub case_id: Option<u64>,
    pub terminal_id: Option<TerminalId>,
    pub card_token: Option<CardToken>,
    pub merchant_id: Option<MerchantId>,
    /// Inclusive lower bound on `created_ms`.
    pub from_ms: Option<TimestampMs>,
    /// Exclusive upper bound on `created_ms`.
    pub to_ms: Option<TimestampMs>,
    /// Only ids strictly greater than this (the cursor).
    pub after_id: Option<u64>,
    /// Clamped to `ALERT_QUERY_LIMIT_MAX`; 0 returns nothing.
    pub limit: u32,
}

impl Default for AlertQuery {
    fn default() -> AlertQuery {
        AlertQuery {
            case_id: None,
            terminal_id: None,
            card_token: None,
            merchant_id: None,
            from_ms: None,
            to_ms: None,
            after_id: None,
            limit: ALERT_QUERY_LIMIT_DEFAULT,
        }
    }
}

pub(crate) fn alerts_sql(q: &AlertQuery) -> Result<(String, Vec<Param>), StoreError> {
    let mut f = Filter::default();
    f.id("case_id = ?", q.case_id, "case id")?;
    f.text(
        "terminal_id = ?",
        q.terminal_id.as_ref().map(|t| t.as_str()),
    );
    f.text("card_token = ?", q.card_token.as_ref().map(|c| c.as_str()));
    f.text(
        "merchant_id = ?",
        q.merchant_id.as_ref().map(|m| m.as_str()),
    );
    f.int("created_ms >= ?", q.from_ms);
    f.int("created_ms < ?", q.to_ms);
    f.id("id > ?", q.after_id, "after_id")?;
    Ok(f.select(ALERT_COLS, "alerts", q.limit, ALERT_QUERY_LIMIT_MAX))
}

/// Most cases one search returns; a caller pages on with `after_id`.
pub const CASE_QUERY_LIMIT_MAX: u32 = 1000;
/// What `CaseQuery::default()` asks for.
pub const CASE_QUERY_LIMIT_DEFAULT: u32 = 100;

/// A case search. Every filter that is set must match (AND), texts exactly as stored
/// (`status` is `open`, `escalated` or `closed`). Results come in ascending id order;
/// to read the next page pass the last id seen as `after_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseQuery {
    pub status: Option<String>,
    /// `card`, `terminal` or `merchant`.
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub assignee: Option<String>,
    /// Only ids strictly greater than this (the cursor).
    pub after_id: Option<u64>,
    /// Clamped to `CASE_QUERY_LIMIT_MAX`; 0 returns nothing.
    pub limit: u32,
}

impl Default for CaseQuery {
    fn default() -> CaseQuery {
        CaseQuery {
            status: None,
            entity_kind: None,
            entity_id: None,
            assignee: None,
            after_id: None,
            limit: CASE_QUERY_LIMIT_DEFAULT,
        }
    }
}

pub(crate) fn cases_sql(q: &CaseQuery) -> Result<(String, Vec<Param>), StoreError> {
    let mut f = Filter::default();
    f.text("status = ?", q.status.as_deref());
    f.text("entity_kind = ?", q.entity_kind.as_deref());
    f.text("entity_id = ?", q.entity_id.as_deref());
    f.text("assignee = ?", q.assignee.as_deref());
    f.id("id > ?", q.after_id, "after_id")?;
    Ok(f.select(CASE_COLS, "cases", q.limit, CASE_QUERY_LIMIT_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_sql_binds_only_the_set_filters_and_clamps_the_limit() {
        let q = TxnQuery {
            terminal_id: Some(TerminalId("T1".into())),
            to_ms: Some(5),
            after_id: Some(TxnId(9)),
            limit: 5000,
            ..TxnQuery::default()
        };
        let (sql, params) = search_sql(&q).expect("valid query");
        assert!(
            sql.ends_with(
                " WHERE terminal_id = ? AND created_ms < ? AND id > ? ORDER BY id LIMIT ?"
            )
        );
        assert_eq!(
            params,
            [
                Param::Text("T1".into()),
                Param::Int(5),
                Param::Int(9),
                Param::Int(1000)
            ]
        );
    }

    #[test]
    fn search_sql_rejects_an_unstorable_cursor() {
        let q = TxnQuery {
            after_id: Some(TxnId(u64::MAX)),
            ..TxnQuery::default()
        };
        assert!(search_sql(&q).is_err());
    }

    #[test]
    fn risk_searches_bind_only_the_set_filters_and_clamp_the_limit() {
        let q = AlertQuery {
            case_id: Some(7),
            merchant_id: Some(MerchantId("M1".into())),
            from_ms: Some(10),
            limit: 5000,
            ..AlertQuery::default()
        };
        let (sql, params) = alerts_sql(&q).expect("valid query");
        assert!(sql.ends_with(
            " FROM alerts WHERE case_id = ? AND merchant_id = ? AND created_ms >= ? \
             ORDER BY id LIMIT ?"
        ));
        let want = [
            Param::Int(7),
            Param::Text("M1".into()),
            Param::Int(10),
            Param::Int(i64::from(ALERT_QUERY_LIMIT_MAX)),
        ];
        assert_eq!(params, want);

        let q = CaseQuery {
            status: Some("open".into()),
            assignee: Some("ann".into()),
            after_id: Some(3),
            ..CaseQuery::default()
        };
        let (sql, params) = cases_sql(&q).expect("valid query");
        assert!(sql.ends_with(
            " FROM cases WHERE status = ? AND assignee = ? AND id > ? ORDER BY id LIMIT ?"
        ));
        let want = [
            Param::Text("open".into()),
            Param::Text("ann".into()),
            Param::Int(3),
            Param::Int(i64::from(CASE_QUERY_LIMIT_DEFAULT)),
        ];
        assert_eq!(params, want);
        let (sql, params) = cases_sql(&CaseQuery::default()).expect("valid query");
        assert!(sql.ends_with(" FROM cases ORDER BY id LIMIT ?"), "{sql}");
        assert_eq!(params.len(), 1);
    }

    #[test]
    fn risk_searches_reject_unstorable_ids() {
        let q = AlertQuery {
            case_id: Some(u64::MAX),
            ..AlertQuery::default()
        };
        assert!(alerts_sql(&q).is_err());
        let q = CaseQuery {
            after_id: Some(u64::MAX),
            ..CaseQuery::default()
        };
        assert!(cases_sql(&q).is_err());
    }
}

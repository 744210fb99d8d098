use crate::error::StoreError;
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

/// The search as SQL with `?` placeholders (the PostgreSQL backend renumbers them).
pub(crate) fn search_sql(q: &TxnQuery) -> Result<(String, Vec<Param>), StoreError> {
    let mut conds: Vec<&str> = Vec::new();
    let mut params = Vec::new();
    let mut text = |conds: &mut Vec<&str>, cond, v: Option<&str>| {
        if let Some(v) = v {
            conds.push(cond);
            params.push(Param::Text(v.to_owned()));
        }
    };
    text(
        &mut conds,
        "merchant_id = ?",
        q.merchant_id.as_ref().map(|m| m.as_str()),
    );
    text(
        &mut conds,
        "terminal_id = ?",
        q.terminal_id.as_ref().map(|t| t.as_str()),
    );
    text(
        &mut conds,
        "card_token = ?",
        q.card_token.as_ref().map(|c| c.as_str()),
    );
    text(&mut conds, "status = ?", q.status.map(TxnStatus::as_str));
    text(
        &mut conds,
        "response_code = ?",
        q.response_code.map(ResponseCode::iso),
    );
    text(&mut conds, "kind = ?", q.kind.map(TxnKind::as_str));
    let ints = [
        ("created_ms >= ?", q.from_ms),
        ("created_ms < ?", q.to_ms),
        (
            "id > ?",
            q.after_id.map(|id| to_i64(id.0, "after_id")).transpose()?,
        ),
    ];
    for (cond, v) in ints {
        if let Some(v) = v {
            conds.push(cond);
            params.push(Param::Int(v));
        }
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    params.push(Param::Int(i64::from(q.limit.min(TXN_QUERY_LIMIT_MAX))));
    Ok((
        format!("SELECT {TXN_COLS} FROM txns{filter} ORDER BY id LIMIT ?"),
        params,
    ))
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
}

//! `postgres` crate glue: column access, parameters, error kinds, statement cache.

use crate::error::{StoreError, StoreErrorKind};
use crate::query::Param;
use crate::reads::{RowFn, Sql};
use crate::rows::Cols;
use ::postgres::error::SqlState;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::{ToSql, Type};
use ::postgres::{GenericClient, Row, Statement};
use std::collections::HashMap;

/// Prepared statements kept per connection, keyed by their `?`-form SQL. Searches
/// build at most a few hundred distinct texts; past this the cache starts over.
const PG_STATEMENT_CACHE: usize = 128;

#[derive(Default)]
pub(super) struct Stmts(HashMap<String, Statement>);

impl Stmts {
    /// The statement for `sql` (with `?` or `$n` placeholders), prepared once per connection.
    pub(super) fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<Statement, StoreError> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        if self.0.len() >= PG_STATEMENT_CACHE {
            self.0.clear();
        }
        let stmt = client
            .prepare(&numbered(sql))
            .map_err(|e| error("prepare query", e))?;
        self.0.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// Turns the shared SQL's `?` placeholders into PostgreSQL's `$1, $2, ...`. The
/// store's SQL has no `?` inside string literals.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn column_error(i: usize) -> StoreError {
    StoreError::corrupt(format!("column {i} does not decode"))
}

impl Cols for Row {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.try_get(i).map_err(|_| column_error(i))
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(|_| column_error(i))
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::corrupt(format!("column {i} is null")))
    }

    /// Integer columns are BIGINT except small codes (currency) in INTEGER.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        let ty = self
            .columns()
            .get(i)
            .map(|c| c.type_().clone())
            .ok_or_else(|| column_error(i))?;
        let v = match ty {
            Type::INT8 => self.try_get::<_, Option<i64>>(i),
            Type::INT4 => self.try_get::<_, Option<i32>>(i).map(|v| v.map(i64::from)),
            Type::INT2 => self.try_get::<_, Option<i16>>(i).map(|v| v.map(i64::from)),
            _ => return Err(column_error(i)),
        };
        v.map_err(|_| column_error(i))
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.try_get(i).map_err(|_| column_error(i))
    }
}

/// Maps a `postgres` failure to a kind. Only the server's message and SQLSTATE are
/// kept: its DETAIL line can quote row values ("Key (id)=(42) already exists").
pub(super) fn error(doing: &str, e: ::postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let kind = if *code == SqlState::UNIQUE_VIOLATION {
            StoreErrorKind::Conflict
        } else if *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE {
            StoreErrorKind::Corrupt
        } else if code.code().starts_with("23") {
            StoreErrorKind::Invalid
        } else if code.code().starts_with("08") || code.code().starts_with("57P") {
            StoreErrorKind::Unavailable
        } else {
            StoreErrorKind::Io
        };
        return StoreError::new(kind, format!("{doing}: {} ({})", db.message(), code.code()));
    }
    // Anything that is not a server error is the connection: refused, reset, closed.
    StoreError::new(StoreErrorKind::Unavailable, format!("{doing}: {e}"))
}

pub(super) fn params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &(dyn ToSql + Sync),
            Param::Int(v) => v as &(dyn ToSql + Sync),
        })
        .collect()
}

/// A client or transaction seen through the shared read interface.
pub(super) struct PgSql<'a, C> {
    pub(super) client: &'a mut C,
    pub(super) stmts: &'a mut Stmts,
}

impl<C: GenericClient> Sql for PgSql<'_, C> {
    fn each_row(
        &mut self,
        sql: &str,
        params: &[Param],
        each: &mut RowFn<'_>,
    ) -> Result<(), StoreError> {
        let stmt = self.stmts.get(self.client, sql)?;
        // query_raw decodes rows as they arrive instead of collecting them all first.
        let mut rows = self
            .client
            .query_raw(&stmt, self::params(params))
            .map_err(|e| error("run query", e))?;
        while let Some(row) = rows.next().map_err(|e| error("read row", e))? {
            each(&row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            super::numbered("a = ? AND b > ? LIMIT ?"),
            "a = $1 AND b > $2 LIMIT $3"
        );
    }
}
